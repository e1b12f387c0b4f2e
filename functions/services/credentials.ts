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

/** `sha256=<hex>` over the raw body, as GitHub's X-Hub-Signature-256. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * The signature of an outbound notification: `sha256=<hex>` of HMAC-SHA256 over
 * `<timestamp>.<raw body>`, so a receiver can refuse an old delivery replayed (docs/notifications.md).
 */
export function signNotification(secret: string, timestamp: string, body: string): string {
  return signBody(secret, `${timestamp}.${body}`);
}

/** Why a CI webhook's `X-Slipway-Signature-256` is not acceptable, or undefined when it is. */
export function webhookSignatureProblem(secret: string, signature: string, body: string): string | undefined {
  if (/^sha256=[a-f0-9]{64}$/.test(signature) && safeEqual(signature, signBody(secret, body))) return undefined;
  return "X-Slipway-Signature-256 does not match the body; sign the raw body with HMAC-SHA256 and the webhook secret";
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
