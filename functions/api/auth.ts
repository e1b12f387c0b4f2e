import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readState } from "../adapters/command-handler.js";
import type { MiddlewareHandler } from "hono";
import { accessDecider, grants, streams, type Scope } from "../../core/index.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { problem } from "./problem.js";

/** API keys look like `slw_<keyId>_<secret>`; the id finds the key, the whole key is hashed. */
const KEY_PATTERN = /^slw_([a-f0-9]{12})_[A-Za-z0-9_-]{43}$/;

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares two strings in time that depends only on their length, by comparing their digests. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

export function newApiKey(): { keyId: string; key: string } {
  const keyId = randomUUID().replace(/-/g, "").slice(0, 12);
  return { keyId, key: `slw_${keyId}_${randomBytes(32).toString("base64url")}` };
}

/**
 * Requires `Authorization: Bearer <API key>` with the given scope. The admin bootstrap key (a
 * secret) has every scope; other keys are looked up by id in the `apikeys` stream and checked by
 * hash. Failures say what is wrong, never what the key was.
 */
export function requireScope(deps: ApiDeps, scope: Scope): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (!header) return withChallenge(problem(c, 401, "auth.missing", `this endpoint needs an API key with the "${scope}" scope in the Authorization header (Bearer)`));
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return withChallenge(problem(c, 401, "auth.malformed", "the Authorization header must be `Bearer <API key>`"));
    const key = match[1]!;
    if (safeEqual(key, deps.secrets.adminApiKey)) {
      c.set("principal", { actor: { kind: "user", id: "admin" }, scopes: ["admin"] });
      return next();
    }
    const id = KEY_PATTERN.exec(key)?.[1];
    const stored = id ? (await readState(deps.store, accessDecider, streams.apiKeys())).state.keys[id] : undefined;
    if (!stored || stored.revoked || !safeEqual(sha256(key), stored.keyHash)) return withChallenge(problem(c, 401, "auth.invalid_key", "the API key is not valid (unknown or revoked)"));
    if (!grants(stored.scopes, scope)) return problem(c, 403, "auth.scope", `API key "${stored.name}" lacks the "${scope}" scope this endpoint needs`);
    c.set("principal", { actor: { kind: "user", id: stored.name }, scopes: stored.scopes });
    return next();
  };
}

function withChallenge(response: Response): Response {
  response.headers.set("www-authenticate", 'Bearer realm="slipway"');
  return response;
}
