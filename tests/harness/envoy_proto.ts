/**
 * Checks generated Envoy configuration against Envoy's own API protos (the copy `@grpc/grpc-js-xds` ships
 * under `deps/envoy-api`), the way Envoy's proto3 JSON/YAML loader reads it: every key must be a field of
 * its message (unknown fields are a startup error in Envoy), values must have the field's type, enums
 * must name a value, `oneof` members are exclusive, and `typed_config` (`google.protobuf.Any`) is checked
 * against the message its `@type` names. Protoc-gen-validate rules (required, ranges) are not checked.
 *
 * ```ts
 * const envoy = loadEnvoyApi();
 * assertEquals(envoy.check("envoy.config.bootstrap.v3.Bootstrap", bootstrap), []);
 * ```
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
const DEPS = `${NODE_MODULES}@grpc/grpc-js-xds/deps`;
const INCLUDE = [
  `${DEPS}/envoy-api`,
  `${DEPS}/xds`,
  `${DEPS}/googleapis`,
  `${DEPS}/protoc-gen-validate`,
  // google/protobuf/descriptor.proto and friends.
  `${NODE_MODULES}protobufjs`,
];

/** The protos the generated bootstrap can reference (directly or through `typed_config`). */
export const ENVOY_PROTOS = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
];

const INT32 = new Set(["int32", "uint32", "sint32", "fixed32", "sfixed32"]);
const INT64 = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);
const WRAPPERS: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

export interface EnvoyApi {
  /** Problems found, each as `path: what`; empty when Envoy would accept the value's shape. */
  check(typeName: string, value: unknown): string[];
}

export function loadEnvoyApi(files: string[] = ENVOY_PROTOS): EnvoyApi {
  if (!existsSync(`${DEPS}/envoy-api`)) {
    throw new Error(`Envoy API protos not found under ${DEPS} (deno install?)`);
  }
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE) if (existsSync(`${dir}/${target}`)) return `${dir}/${target}`;
    return target;
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();

  function scalar(type: string, value: unknown, path: string, problems: string[]) {
    const bad = (want: string) => problems.push(`${path}: want ${want}, got ${JSON.stringify(value)}`);
    if (type === "string" || type === "bytes") {
      if (typeof value !== "string") bad(type);
    } else if (type === "bool") {
      if (typeof value !== "boolean") bad("bool");
    } else if (type === "double" || type === "float") {
      if (typeof value !== "number") bad(type);
    } else if (INT32.has(type)) {
      if (!Number.isInteger(typeof value === "string" ? Number(value) : value)) bad(type);
      else if (type.startsWith("u") && Number(value) < 0) bad(type);
    } else if (INT64.has(type)) {
      if (!(Number.isInteger(value) || (typeof value === "string" && /^-?\d+$/.test(value)))) bad(type);
    } else problems.push(`${path}: unknown scalar type ${type}`);
  }

  function message(type: protobuf.Type, value: unknown, path: string, problems: string[]) {
    const name = type.fullName.replace(/^\./, "");
    if (WRAPPERS[name]) return scalar(WRAPPERS[name], value, path, problems);
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof value !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(value)) {
          problems.push(`${path}: want a duration like "5s", got ${JSON.stringify(value)}`);
        }
        return;
      case "google.protobuf.Timestamp":
      case "google.protobuf.FieldMask":
        if (typeof value !== "string") problems.push(`${path}: want a string`);
        return;
      case "google.protobuf.Struct":
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          problems.push(`${path}: want an object`);
        }
        return;
      case "google.protobuf.Value":
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(value)) problems.push(`${path}: want a list`);
        return;
      case "google.protobuf.Any": {
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          problems.push(`${path}: want an object with @type`);
          return;
        }
        const { "@type": url, ...rest } = value as Record<string, unknown>;
        if (typeof url !== "string" || !url.startsWith("type.googleapis.com/")) {
          problems.push(`${path}: @type must be type.googleapis.com/<message>`);
          return;
        }
        const inner = root.lookup(url.slice("type.googleapis.com/".length));
        if (!(inner instanceof protobuf.Type)) {
          problems.push(`${path}: @type ${url} is not a loaded message (add its proto to ENVOY_PROTOS)`);
          return;
        }
        return message(inner, rest, path, problems);
      }
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      problems.push(`${path}: want a ${name} object, got ${JSON.stringify(value)}`);
      return;
    }
    const byJsonName = new Map(type.fieldsArray.map((f) => [jsonName(f.name), f]));
    const setOneofs = new Map<string, string>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const field = type.fields[key] ?? byJsonName.get(key);
      const at = `${path}.${key}`;
      if (!field) {
        problems.push(`${at}: no such field in ${name}`);
        continue;
      }
      if (field.partOf && field.partOf.fieldsArray.length > 1) {
        const other = setOneofs.get(field.partOf.name);
        if (other) problems.push(`${at}: oneof ${field.partOf.name} already set by ${other}`);
        setOneofs.set(field.partOf.name, key);
      }
      if (fieldValue === null) continue;
      if (field instanceof protobuf.MapField) {
        if (typeof fieldValue !== "object" || Array.isArray(fieldValue)) {
          problems.push(`${at}: want a map`);
          continue;
        }
        for (const [k, v] of Object.entries(fieldValue as object)) {
          single(field, v, `${at}[${JSON.stringify(k)}]`, problems);
        }
      } else if (field.repeated) {
        if (!Array.isArray(fieldValue)) problems.push(`${at}: want a list`);
        else fieldValue.forEach((v, i) => single(field, v, `${at}[${i}]`, problems));
      } else single(field, fieldValue, at, problems);
    }
  }

  function single(field: protobuf.Field, value: unknown, path: string, problems: string[]) {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return message(resolved, value, path, problems);
    if (resolved instanceof protobuf.Enum) {
      const ok = typeof value === "string" ? value in resolved.values : Number.isInteger(value);
      if (!ok) {
        problems.push(`${path}: ${JSON.stringify(value)} is not a value of ${resolved.fullName.slice(1)}`);
      }
      return;
    }
    scalar(field.type, value, path, problems);
  }

  return {
    check(typeName, value) {
      const type = root.lookupType(typeName);
      const problems: string[] = [];
      message(type, JSON.parse(JSON.stringify(value)), typeName.split(".").at(-1)!, problems);
      return problems;
    },
  };
}

/** proto3 JSON accepts a field's lowerCamelCase name as well as its proto name. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
