/**
 * Identity for both data paths: who a request is ({@link Identity}), how it is established (bearer token,
 * trusted header, token claims), what it may use ({@link isAllowed}, {@link visibleItems}) and what is
 * recorded ({@link AuditLog}).
 */
export * from "./identity.ts";
export * from "./authorize.ts";
export * from "./bearer.ts";
export * from "./trusted_header.ts";
export * from "./token_capabilities.ts";
export * from "./resolve.ts";
export * from "./audit.ts";
