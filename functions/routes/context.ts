import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { Metadata } from "../../events/index.js";
import type { Principal } from "../services/access.js";
import type { Session } from "../services/sessions.js";
import { nowOf, type ApiDeps } from "../services/deps.js";

/**
 * What a request carries through its middleware: who made it (set by the access check), its
 * dashboard session if it came with one, the agent
 * token of an `agent` route, the signature a CI webhook was accepted with, and the request id that
 * ties its events together.
 */
export type ApiEnv = {
  Variables: {
    principal: Principal;
    /** Set when the request was authenticated by the dashboard's session cookie. */
    session: Session | undefined;
    requestId: string;
    agentToken: string;
    webhookSignature: string | undefined;
  };
};

/** Event metadata for a command made by this request, on behalf of `actor` (by default, the principal). */
export function metadataOf(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  actor: Metadata["actor"] = c.get("principal").actor,
): Metadata {
  const requestId = c.get("requestId") ?? randomUUID();
  return { occurredAt: nowOf(deps).toISOString(), actor, correlationId: requestId, causationId: requestId };
}
