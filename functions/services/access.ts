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

/** The key a session stands for when it was signed in with the admin bootstrap key. */
export const ADMIN_KEY = "admin";

/** A principal and the key it came from: `admin` for the bootstrap key, else the key's id. */
export type KeyPrincipal = Principal & { key: string };

const INVALID_KEY: AccessRefusal = {
  status: 401,
  code: "auth.invalid_key",
  detail: "the API key is not valid (unknown or revoked)",
};

/**
 * The principal an API key stands for. The admin bootstrap key (a secret) has every scope; other
 * keys are looked up by id and checked by hash. Refusals say what is wrong, never what the key was.
 */
export async function principalOfKey(deps: ApiDeps, key: string): Promise<KeyPrincipal | AccessRefusal> {
  if (safeEqual(key, deps.secrets.adminApiKey)) return adminPrincipal();
  const id = apiKeyId(key);
  const stored = id ? (await readState(deps.store, accessDecider, streams.apiKeys())).state.keys[id] : undefined;
  if (!stored || stored.revoked || !safeEqual(sha256(key), stored.keyHash)) return INVALID_KEY;
  return { actor: { kind: "user", id: stored.name }, scopes: stored.scopes, key: stored.keyId };
}

/**
 * The principal of a key named by id (`admin`: the bootstrap key), as the key stands now: a
 * session outlives nothing about its key — revoked, it is refused; rescoped, it has the new scopes.
 */
export async function principalOfKeyId(deps: ApiDeps, keyId: string): Promise<KeyPrincipal | AccessRefusal> {
  if (keyId === ADMIN_KEY) return adminPrincipal();
  const keys = (await readState(deps.store, accessDecider, streams.apiKeys())).state.keys;
  const stored = Object.hasOwn(keys, keyId) ? keys[keyId] : undefined;
  if (!stored || stored.revoked) return INVALID_KEY;
  return { actor: { kind: "user", id: stored.name }, scopes: stored.scopes, key: stored.keyId };
}

/** Whether a principal may do what `scope` allows; a refusal naming the key's name when not. */
export function checkScope(principal: Principal, scope: Scope): AccessRefusal | undefined {
  if (grants(principal.scopes, scope)) return undefined;
  return {
    status: 403,
    code: "auth.scope",
    detail: `API key "${principal.actor.id}" lacks the "${scope}" scope this endpoint needs`,
  };
}

/** The principal an API key stands for, if it carries `scope`. */
export async function authenticate(deps: ApiDeps, key: string, scope: Scope): Promise<Principal | AccessRefusal> {
  const principal = await principalOfKey(deps, key);
  if ("status" in principal) return principal;
  const { key: _key, ...who } = principal;
  return checkScope(who, scope) ?? who;
}

function adminPrincipal(): KeyPrincipal {
  return { actor: { kind: "user", id: "admin" }, scopes: ["admin"], key: ADMIN_KEY };
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
