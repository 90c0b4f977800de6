/**
 * A small validator for the OpenAPI v3 subset CRD structural schemas use (type, properties, required, items,
 * enum, pattern, lengths, item counts, additionalProperties, x-kubernetes-preserve-unknown-fields). Unlike
 * the API server, which silently prunes unknown fields, it reports them: a misspelt sample field is a bug.
 */
// deno-lint-ignore no-explicit-any
type Schema = Record<string, any>;

export function validateAgainstSchema(value: unknown, schema: Schema, path = ""): string[] {
  const at = path || "(root)";
  const errors: string[] = [];
  const type = schema.type as string | undefined;
  if (value === null || value === undefined) return [`${at}: must not be null`];
  if (type === "object") {
    if (typeof value !== "object" || Array.isArray(value)) return [`${at}: must be an object`];
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!(key in obj)) errors.push(`${at}: missing required field "${key}"`);
    }
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [key, v] of Object.entries(obj)) {
      const child = `${path ? `${path}.` : ""}${key}`;
      if (props[key]) errors.push(...validateAgainstSchema(v, props[key], child));
      else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
        errors.push(...validateAgainstSchema(v, schema.additionalProperties, child));
      } else if (!schema["x-kubernetes-preserve-unknown-fields"] && schema.properties) {
        errors.push(`${child}: unknown field (the API server would drop it)`);
      }
    }
  } else if (type === "array") {
    if (!Array.isArray(value)) return [`${at}: must be an array`];
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push(`${at}: fewer than ${schema.minItems} items`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errors.push(`${at}: more than ${schema.maxItems} items`);
    }
    value.forEach((v, i) => errors.push(...validateAgainstSchema(v, schema.items ?? {}, `${path}[${i}]`)));
  } else if (type === "string") {
    if (typeof value !== "string") return [`${at}: must be a string`];
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      errors.push(`${at}: shorter than ${schema.minLength}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errors.push(`${at}: longer than ${schema.maxLength}`);
    }
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${at}: does not match ${schema.pattern}`);
    }
  } else if (type === "integer") {
    if (!Number.isInteger(value)) return [`${at}: must be an integer`];
  } else if (type === "boolean") {
    if (typeof value !== "boolean") return [`${at}: must be a boolean`];
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${at}: must be one of ${schema.enum.join(", ")}`);
  }
  return errors;
}
