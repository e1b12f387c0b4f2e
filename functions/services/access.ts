import { accessDecider, grants, streams, type ErrorCode, type Scope } from "../../core/index.js";
import type { Actor, Metadata } from "../../events/index.js";
import { handleCommand, readState } from "./commands.js";
import { apiKeyId, newApiKey, safeEqual, sha256 } from "./credentials.js";
import type { ApiDeps } from "./deps.js";

/** Who may do what: API keys, their scopes, and authenticating a request's key. */

/** Who made a request: a person or system holding an API key, CI proven by the webhook signature, or a Slack user. */
export type Principal = { actor: Actor; scopes: readonly Scope[] };

export type KeyView = { keyId: string; name: string; scopes: Scope[]; revoked: boolean };

/** Why a key is not accepted: 401 when it is not a valid key, 403 when it lacks the scope. */
export type AccessRefusal = { status: 401 | 403; code: ErrorCode; detail: string };

/**
 * The principal an API key stands for, if it carries `scope`. The admin bootstrap key (a secret)
 * has every scope; other keys are looked up by id and checked by hash. Refusals say what is wrong,
 * never what the key was.
 */
export async function authenticate(deps: ApiDeps, key: string, scope: Scope): Promise<Principal | AccessRefusal> {
  if (safeEqual(key, deps.secrets.adminApiKey)) return { actor: { kind: "user", id: "admin" }, scopes: ["admin"] };
  const id = apiKeyId(key);
  const stored = id ? (await readState(deps.store, accessDecider, streams.apiKeys())).state.keys[id] : undefined;
  if (!stored || stored.revoked || !safeEqual(sha256(key), stored.keyHash))
    return { status: 401, code: "auth.invalid_key", detail: "the API key is not valid (unknown or revoked)" };
  if (!grants(stored.scopes, scope))
    return {
      status: 403,
      code: "auth.scope",
      detail: `API key "${stored.name}" lacks the "${scope}" scope this endpoint needs`,
    };
  return { actor: { kind: "user", id: stored.name }, scopes: stored.scopes };
}

/** Issues a key; the key itself is returned this once, and only its SHA-256 is kept. */
export async function issueApiKey(
  deps: ApiDeps,
  name: string,
  scopes: Scope[],
  meta: Metadata,
): Promise<KeyView & { key: string }> {
  const { keyId, key } = newApiKey();
  await handleCommand(
    deps.store,
    accessDecider,
    streams.apiKeys(),
    { type: "IssueApiKey", keyId, name, scopes, keyHash: sha256(key) },
    meta,
  );
  return { keyId, name, scopes: [...new Set(scopes)], revoked: false, key };
}

export async function listApiKeys(deps: ApiDeps): Promise<KeyView[]> {
  const state = (await readState(deps.store, accessDecider, streams.apiKeys())).state;
  return Object.values(state.keys).map(({ keyId, name, scopes, revoked }) => ({ keyId, name, scopes, revoked }));
}

export async function revokeApiKey(deps: ApiDeps, keyId: string, meta: Metadata): Promise<void> {
  await handleCommand(deps.store, accessDecider, streams.apiKeys(), { type: "RevokeApiKey", keyId }, meta);
}
