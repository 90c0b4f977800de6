/**
 * zod views of the Kubernetes objects the controller reads. Objects arrive as plain JSON from the API server;
 * these schemas pick out the fields the projection needs and turn a malformed spec into a status reason
 * instead of an exception. Unknown fields pass through untouched.
 */
import { z } from "zod";

const meta = z.object({
  name: z.string(),
  namespace: z.string().default(""),
  generation: z.number().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
}).loose();

const credentialRef = z.object({ name: z.string().min(1), key: z.string().min(1).default("token") });

/** An HTTPRoute reference as MCPServer carries it (`spec.targetRef` or an entry of `spec.targetRefs`). */
export const TargetRefSchema = z.object({
  group: z.string().default("gateway.networking.k8s.io"),
  kind: z.string().default("HTTPRoute"),
  name: z.string().min(1),
  namespace: z.string().optional(),
  /** Per-target prefix (the seed README's `targetRefs[].toolPrefix`). */
  toolPrefix: z.string().optional(),
  /** Per-target credential; overrides `spec.credentialRef`. */
  credentialRef: credentialRef.optional(),
}).loose();
export type TargetRef = z.infer<typeof TargetRefSchema>;

export const MCPServerSchema = z.object({
  metadata: meta,
  spec: z.object({
    targetRef: TargetRefSchema.optional(),
    targetRefs: z.array(TargetRefSchema).optional(),
    toolPrefix: z.string().default(""),
    path: z.string().default("/mcp"),
    credentialRef: credentialRef.optional(),
    /** See the config file's `forwardClientToken`: Envoy path only, for a token-exchange policy. */
    forwardClientToken: z.boolean().optional(),
  }).loose(),
  status: z.record(z.string(), z.unknown()).optional(),
}).loose();
export type MCPServerObject = z.infer<typeof MCPServerSchema>;

export const MCPVirtualServerSchema = z.object({
  metadata: meta,
  spec: z.object({
    description: z.string().optional(),
    tools: z.array(z.string()).default([]),
    prompts: z.array(z.string()).optional(),
  }).loose(),
}).loose();
export type MCPVirtualServerObject = z.infer<typeof MCPVirtualServerSchema>;

const backendRef = z.object({
  group: z.string().default(""),
  kind: z.string().default("Service"),
  name: z.string().default(""),
  namespace: z.string().optional(),
  port: z.number().int().optional(),
}).loose();

export const HTTPRouteSchema = z.object({
  metadata: meta,
  spec: z.object({
    hostnames: z.array(z.string()).default([]),
    parentRefs: z.array(z.object({ sectionName: z.string().optional() }).loose()).default([]),
    rules: z.array(z.object({ backendRefs: z.array(backendRef).default([]) }).loose()).default([]),
  }).loose().default({ hostnames: [], parentRefs: [], rules: [] }),
  status: z.object({
    parents: z.array(z.object({ conditions: z.array(z.record(z.string(), z.unknown())).optional() }).loose())
      .default([]),
  }).loose().optional(),
}).loose();
export type HTTPRouteObject = z.infer<typeof HTTPRouteSchema>;

export const ServiceSchema = z.object({
  metadata: meta,
  spec: z.object({
    type: z.string().default("ClusterIP"),
    externalName: z.string().optional(),
    ports: z.array(
      z.object({
        name: z.string().optional(),
        port: z.number().int(),
        appProtocol: z.string().optional(),
      }).loose(),
    ).default([]),
  }).loose().default({ type: "ClusterIP", ports: [] }),
}).loose();
export type ServiceObject = z.infer<typeof ServiceSchema>;

/** A credential Secret as the event log holds it: key digests only, never values (see informer.ts). */
export const RedactedSecretSchema = z.object({
  metadata: meta,
  dataDigests: z.record(z.string(), z.string()).default({}),
}).loose();
export type RedactedSecretObject = z.infer<typeof RedactedSecretSchema>;
