import { createHmac } from "node:crypto";
import { z } from "zod";
import type { EventData } from "../../events/index.js";
import { safeEqual } from "../api/auth.js";

/**
 * Slack-style approvals: a Block Kit message with Approve and Reject buttons posted to an incoming
 * webhook, and the interactive callback that comes back signed with Slack's v0 scheme.
 */

export const APPROVE_ACTION = "slipway_approve";
export const REJECT_ACTION = "slipway_reject";
/** Slack refuses requests older than five minutes, and so do we: it stops replays. */
export const MAX_SIGNATURE_AGE_S = 5 * 60;

export const ButtonValue = z.object({ releaseId: z.string(), channel: z.string(), approval: z.string() });

/**
 * The approval request: what would change in the channel — each param whose value differs from the
 * release running there now, as `old → new` — and the buttons.
 */
export function approvalRequestMessage(input: { release: EventData<"ReleaseCreated">; channel: string; approval: string; minApprovers: number; current?: EventData<"ReleaseCreated"> }) {
  const { release, channel, approval, minApprovers, current } = input;
  const value = JSON.stringify({ releaseId: release.releaseId, channel, approval });
  const params = Object.entries(release.params)
    .filter(([name, v]) => current?.params[name] !== v)
    .map(([name, v]) => ({ type: "mrkdwn", text: `*${name}*\n${current?.params[name] !== undefined ? `\`${String(current.params[name])}\` → ` : ""}\`${String(v)}\`` }));
  const source = [release.source.commit && `commit \`${release.source.commit.slice(0, 12)}\``, release.source.branch && `on \`${release.source.branch}\``].filter(Boolean).join(" ");
  return {
    text: `Approval needed: ${release.application}/${release.service} release ${release.releaseId} to ${channel}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*Approval needed* to release *${release.application}/${release.service}* to *${channel}*${minApprovers > 1 ? ` (${minApprovers} approvers)` : ""}${source ? `\n${source}` : ""}` } },
      { type: "section", fields: [{ type: "mrkdwn", text: `*Release*\n\`${release.releaseId}\`` }, { type: "mrkdwn", text: `*Approval*\n${approval}` }, ...params].slice(0, 10) },
      {
        type: "actions",
        block_id: "slipway_approval",
        elements: [
          { type: "button", action_id: APPROVE_ACTION, style: "primary", text: { type: "plain_text", text: "Approve" }, value },
          { type: "button", action_id: REJECT_ACTION, style: "danger", text: { type: "plain_text", text: "Reject" }, value },
        ],
      },
    ],
  };
}

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

/** Why a callback's signature is not acceptable, or undefined when it is. */
export function slackSignatureProblem(secret: string, timestamp: string | undefined, signature: string | undefined, body: string, now: Date): string | undefined {
  if (!timestamp || !signature) return "X-Slack-Request-Timestamp and X-Slack-Signature are required";
  const ts = Number(timestamp);
  if (!Number.isInteger(ts)) return "X-Slack-Request-Timestamp must be a Unix time in seconds";
  if (Math.abs(now.getTime() / 1000 - ts) > MAX_SIGNATURE_AGE_S) return "the request is older than five minutes (or from the future); it may be a replay";
  if (!safeEqual(signature, slackSignature(secret, timestamp, body))) return "X-Slack-Signature does not match the body";
  return undefined;
}

export const BlockActionsPayload = z.object({
  type: z.literal("block_actions"),
  user: z.object({ id: z.string(), username: z.string().optional(), name: z.string().optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
  response_url: z.string().url().optional(),
});
