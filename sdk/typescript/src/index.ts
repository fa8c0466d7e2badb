// The eats TypeScript SDK: generated types (src/schema.ts, by openapi-typescript via
// sdk/generate.sh) + openapi-fetch as the runtime client.
import createFetchClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths, operations } from "./schema.js";
export type Schemas = components["schemas"];
export type Problem = components["schemas"]["Problem"];

export interface EatsClientOptions {
  /** Server origin, e.g. http://127.0.0.1:8080 (the /api/v1 prefix is added). */
  baseUrl: string;
  /** Bearer JWT. */
  token?: string;
  fetch?: typeof globalThis.fetch;
}

export function createEatsClient(opts: EatsClientOptions) {
  return createFetchClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, "") + "/api/v1",
    headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
    fetch: opts.fetch,
  });
}

export type EatsClient = ReturnType<typeof createEatsClient>;
