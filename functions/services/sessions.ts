import { checkScope, principalOfKey, principalOfKeyId, type AccessRefusal, type Principal } from "./access.js";
import { newSessionNonce, sessionClaims, sessionCsrfToken, signSession } from "./credentials.js";
import { nowOf, type ApiDeps } from "./deps.js";

/**
 * Dashboard sessions. Signing in exchanges an API key for a session token kept in an HttpOnly
 * cookie; the token names the key by id, is signed by the server, and lasts SESSION_TTL_S. Each
 * request made with it is judged by the key as it stands then (revoked: refused; scopes: the
 * key's current ones), so nothing about a session needs storing. The key itself is never kept.
 */

export const SESSION_COOKIE = "slipway_session";
export const SESSION_TTL_S = 12 * 60 * 60;
/** The header a cookie-authenticated request that changes something carries its session's CSRF token in. */
export const CSRF_HEADER = "x-slipway-csrf";

export type Session = { principal: Principal; csrf: string; expires: number };

/** A new session for an API key that may at least read. */
export async function signIn(deps: ApiDeps, key: string): Promise<(Session & { token: string }) | AccessRefusal> {
  const principal = await principalOfKey(deps, key);
  if ("status" in principal) return principal;
  const refused = checkScope(principal, "read");
  if (refused) return { ...refused, detail: `API key "${principal.actor.id}" cannot read, so it cannot sign in` };
  const expires = Math.floor(nowOf(deps).getTime() / 1000) + SESSION_TTL_S;
  const nonce = newSessionNonce();
  const secret = deps.secrets.adminApiKey;
  const { key: _key, ...who } = principal;
  return {
    token: signSession(secret, { key: principal.key, expires, nonce }),
    principal: who,
    csrf: sessionCsrfToken(secret, nonce),
    expires,
  };
}

/** The session a token stands for now, or why it is refused (ended, forged, or its key revoked). */
export async function sessionOf(deps: ApiDeps, token: string): Promise<Session | AccessRefusal> {
  const secret = deps.secrets.adminApiKey;
  const claims = sessionClaims(secret, token, Math.floor(nowOf(deps).getTime() / 1000));
  if (!claims)
    return { status: 401, code: "auth.session", detail: "the session has ended or is not valid; sign in again" };
  const principal = await principalOfKeyId(deps, claims.key);
  if ("status" in principal)
    return { status: 401, code: "auth.session", detail: "the key this session was signed in with is no longer valid" };
  const { key: _key, ...who } = principal;
  return { principal: who, csrf: sessionCsrfToken(secret, claims.nonce), expires: claims.expires };
}
