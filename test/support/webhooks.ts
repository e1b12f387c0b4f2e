import { signWebhook } from "../../functions/services/credentials.js";

/** The headers that sign a CI webhook's `body` at `at` (now, unless given): `X-Slipway-Timestamp` and its signature. */
export function signedWebhookHeaders(secret: string, body: string, at: Date = new Date()): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  return { "x-slipway-timestamp": timestamp, "x-slipway-signature-256": signWebhook(secret, timestamp, body) };
}
