import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

/**
 * Everything Slipway does with a credential, in one place: reading a bearer token, hashing what is
 * stored, comparing in constant time, and checking the HMAC signatures of CI webhooks and Slack
 * callbacks. Nothing here logs or returns a credential; problems are sentences about the request.
 */

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares two strings in time that depends only on their length, by comparing their digests. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

export type BearerToken = { token: string } | { problem: "missing" | "malformed" };

/** The token of an `Authorization: Bearer <token>` header, or what is wrong with the header. */
export function bearerToken(header: string | undefined): BearerToken {
  if (header === undefined || header === "") return { problem: "missing" };
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  return token ? { token } : { problem: "malformed" };
}

// ── API keys and agent tokens ─────────────────────────────────────────────────────────────

/** API keys look like `slw_<keyId>_<secret>`; the id finds the key, the whole key is hashed. */
const API_KEY_PATTERN = /^slw_([a-f0-9]{12})_[A-Za-z0-9_-]{43}$/;

export function newApiKey(): { keyId: string; key: string } {
  const keyId = randomUUID().replace(/-/g, "").slice(0, 12);
  return { keyId, key: `slw_${keyId}_${randomBytes(32).toString("base64url")}` };
}

/** The key id inside an API key, or undefined when the text is not shaped like one. */
export function apiKeyId(key: string): string | undefined {
  return API_KEY_PATTERN.exec(key)?.[1];
}

export function newAgentToken(): { token: string; tokenId: string; tokenHash: string } {
  const token = `slwa_${randomBytes(32).toString("base64url")}`;
  return { token, tokenId: randomUUID(), tokenHash: sha256(token) };
}

// ── signatures ────────────────────────────────────────────────────────────────────────────

/** `sha256=<hex>` of HMAC-SHA256 over `text`: the primitive the webhook signatures are made of. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * The signature of a webhook, CI's coming in and Slipway's notifications going out: `sha256=<hex>`
 * of HMAC-SHA256 over `<timestamp>.<raw body>` (Stripe's and Slack's scheme). The timestamp inside
 * the MAC lets a receiver refuse an old delivery replayed; a MAC over the body alone could be
 * replayed for ever. The one place either side signs.
 */
export function signWebhook(secret: string, timestamp: string | number, body: string): string {
  return signBody(secret, `${timestamp}.${body}`);
}

/** How far a webhook's `X-Slipway-Timestamp` may be from the server's clock, either way. */
export const MAX_WEBHOOK_SIGNATURE_AGE_S = 5 * 60;

export type WebhookSignatureProblem = {
  code: "webhook.bad_timestamp" | "webhook.stale" | "webhook.bad_signature";
  detail: string;
};

/**
 * Why a CI webhook's `X-Slipway-Timestamp` and `X-Slipway-Signature-256` are not acceptable, or
 * undefined when they are. The details name what is wrong, never a value that was expected.
 */
export function webhookSignatureProblem(
  secret: string,
  timestamp: string | undefined,
  signature: string,
  body: string,
  now: Date,
): WebhookSignatureProblem | undefined {
  if (timestamp === undefined || timestamp === "")
    return {
      code: "webhook.bad_timestamp",
      detail:
        "X-Slipway-Timestamp is required: send the Unix time in seconds and sign `<timestamp>.<raw body>` with HMAC-SHA256 and the webhook secret",
    };
  if (!/^\d{1,12}$/.test(timestamp))
    return { code: "webhook.bad_timestamp", detail: "X-Slipway-Timestamp must be a Unix time in whole seconds" };
  const skew = Math.round(now.getTime() / 1000 - Number(timestamp));
  if (Math.abs(skew) > MAX_WEBHOOK_SIGNATURE_AGE_S)
    return {
      code: "webhook.stale",
      detail: `X-Slipway-Timestamp is ${Math.abs(skew)} s ${skew > 0 ? "in the past" : "in the future"}; a webhook must be signed within five minutes of the server's clock (an old one may be a replay)`,
    };
  if (/^sha256=[a-f0-9]{64}$/.test(signature) && safeEqual(signature, signWebhook(secret, timestamp, body)))
    return undefined;
  return {
    code: "webhook.bad_signature",
    detail:
      "X-Slipway-Signature-256 does not match; sign `<X-Slipway-Timestamp>.<raw body>` with HMAC-SHA256 and the webhook secret",
  };
}

/** Slack refuses requests older than five minutes, and so do we: it stops replays. */
export const MAX_SLACK_SIGNATURE_AGE_S = 5 * 60;

/** Slack's v0 scheme: HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing secret. */
export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

/** Why a Slack callback's signature is not acceptable, or undefined when it is. */
export function slackSignatureProblem(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: string,
  now: Date,
): string | undefined {
  if (!timestamp || !signature) return "X-Slack-Request-Timestamp and X-Slack-Signature are required";
  const ts = Number(timestamp);
  if (!Number.isInteger(ts)) return "X-Slack-Request-Timestamp must be a Unix time in seconds";
  if (Math.abs(now.getTime() / 1000 - ts) > MAX_SLACK_SIGNATURE_AGE_S)
    return "the request is older than five minutes (or from the future); it may be a replay";
  if (!safeEqual(signature, slackSignature(secret, timestamp, body)))
    return "X-Slack-Signature does not match the body";
  return undefined;
}

// ── dashboard sessions ───────────────────────────────────────────────────────────────────

/** What a session cookie says: whose key (`admin` for the bootstrap key, else the key's id), until when, and its nonce. */
export type SessionClaims = { key: string; expires: number; nonce: string };

/**
 * The key sessions are signed with, derived from the admin bootstrap key: it exists wherever
 * Slipway runs, stays on the server, and rotating it ends every session.
 */
function sessionKey(serverSecret: string): Buffer {
  return createHmac("sha256", serverSecret).update("slipway dashboard sessions v1").digest();
}

/** A session token: `<claims>.<MAC>`, both base64url. It names the key by id and never holds the key. */
export function signSession(serverSecret: string, claims: SessionClaims): string {
  const body = Buffer.from(JSON.stringify({ k: claims.key, e: claims.expires, n: claims.nonce })).toString("base64url");
  return `${body}.${createHmac("sha256", sessionKey(serverSecret)).update(body).digest("base64url")}`;
}

/** The claims of a session token whose MAC holds and that has not expired at `now` (epoch seconds). */
export function sessionClaims(serverSecret: string, token: string, now: number): SessionClaims | undefined {
  const [body, mac, extra] = token.split(".");
  if (!body || !mac || extra !== undefined) return undefined;
  if (!safeEqual(mac, createHmac("sha256", sessionKey(serverSecret)).update(body).digest("base64url")))
    return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const { k, e, n } = (parsed ?? {}) as { k?: unknown; e?: unknown; n?: unknown };
  if (typeof k !== "string" || typeof e !== "number" || typeof n !== "string" || e <= now) return undefined;
  return { key: k, expires: e, nonce: n };
}

/** A new session nonce. */
export function newSessionNonce(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * The CSRF token of a session: a MAC of its nonce, so it is bound to that one session, cannot be
 * made without the server's key, and needs no storage. Pages carry it; state-changing requests
 * authenticated by the cookie must send it back in `X-Slipway-CSRF`.
 */
export function sessionCsrfToken(serverSecret: string, nonce: string): string {
  return createHmac("sha256", sessionKey(serverSecret)).update(`csrf.${nonce}`).digest("base64url");
}
