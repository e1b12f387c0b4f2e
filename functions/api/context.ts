import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { Actor, Metadata } from "../../events/index.js";
import type { Scope } from "../../core/index.js";
import type { EventStore } from "../adapters/event-store.js";
import type { HealthCheck } from "../adapters/health.js";
import type { ReadModels } from "../adapters/read-models.js";
import type { Secrets } from "../adapters/secrets.js";

/** What the HTTP API needs from the outside world; the Lambda entry and the tests each build one. */
export type ApiDeps = {
  store: EventStore;
  readModels: ReadModels;
  secrets: Secrets;
  /** How long a runtime whose agent dropped counts as reconnecting before it counts as disconnected. */
  agentGraceSeconds?: number;
  checks: Record<string, HealthCheck>;
  /** The agents' WebSocket URL, written into install manifests. */
  agentsUrl?: string;
  now?: () => Date;
  log?: (line: string) => void;
};

/** Who made a request: a person or system holding an API key, or CI proven by the webhook signature. */
export type Principal = { actor: Actor; scopes: readonly Scope[] };

export type ApiEnv = { Variables: { principal: Principal; requestId: string } };

export function nowOf(deps: ApiDeps): Date {
  return deps.now?.() ?? new Date();
}

/** Event metadata for a command made by this request; the request id ties its events together. */
export function metadataOf(c: Context<ApiEnv>, deps: ApiDeps): Metadata {
  const requestId = c.get("requestId") ?? randomUUID();
  return { occurredAt: nowOf(deps).toISOString(), actor: c.get("principal").actor, correlationId: requestId, causationId: requestId };
}
