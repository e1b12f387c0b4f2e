import { z } from "zod";
import type { EventData } from "../../events/index.js";

/**
 * Slack-style approvals, Slack's side of them: the Block Kit message with Approve and Reject
 * buttons posted to an incoming webhook, the shape of the interactive callback that comes back
 * (its signature is checked in services/credentials.ts), and the update of the message after a
 * click.
 */

export const APPROVE_ACTION = "slipway_approve";
export const REJECT_ACTION = "slipway_reject";

export const ButtonValue = z.object({ releaseId: z.string(), channel: z.string(), approval: z.string() });

/**
 * The approval request: what would change in the channel — each param whose value differs from the
 * release running there now, as `old → new` — and the buttons.
 */
export function approvalRequestMessage(input: {
  release: EventData<"ReleaseCreated">;
  channel: string;
  approval: string;
  minApprovers: number;
  current?: EventData<"ReleaseCreated">;
}) {
  const { release, channel, approval, minApprovers, current } = input;
  const value = JSON.stringify({ releaseId: release.releaseId, channel, approval });
  const params = Object.entries(release.params)
    .filter(([name, v]) => current?.params[name] !== v)
    .map(([name, v]) => ({
      type: "mrkdwn",
      text: `*${name}*\n${current?.params[name] !== undefined ? `\`${String(current.params[name])}\` → ` : ""}\`${String(v)}\``,
    }));
  const source = [
    release.source.commit && `commit \`${release.source.commit.slice(0, 12)}\``,
    release.source.branch && `on \`${release.source.branch}\``,
  ]
    .filter(Boolean)
    .join(" ");
  return {
    text: `Approval needed: ${release.application}/${release.service} release ${release.releaseId} to ${channel}`,
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `*Approval needed* to release *${release.application}/${release.service}* to *${channel}*${minApprovers > 1 ? ` (${minApprovers} approvers)` : ""}${source ? `\n${source}` : ""}`,
        },
      },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Release*\n\`${release.releaseId}\`` },
          { type: "mrkdwn", text: `*Approval*\n${approval}` },
          ...params,
        ].slice(0, 10),
      },
      {
        type: "actions",
        block_id: "slipway_approval",
        elements: [
          {
            type: "button",
            action_id: APPROVE_ACTION,
            style: "primary",
            text: { type: "plain_text", text: "Approve" },
            value,
          },
          {
            type: "button",
            action_id: REJECT_ACTION,
            style: "danger",
            text: { type: "plain_text", text: "Reject" },
            value,
          },
        ],
      },
    ],
  };
}

export const BlockActionsPayload = z.object({
  type: z.literal("block_actions"),
  user: z.object({ id: z.string(), username: z.string().optional(), name: z.string().optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
  response_url: z.string().url().optional(),
});

/** Posts Slack Block Kit messages to an incoming webhook. */
export type SlackPoster = (webhookUrl: string, message: object) => Promise<void>;

export const postToSlack: SlackPoster = async (webhookUrl, message) => {
  const res = await fetch(webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`Slack answered ${res.status}`);
};

/** Best effort: replaces the buttons with the outcome; Slack's 3 s budget leaves no room to retry. */
export async function updateSlackMessage(
  responseUrl: string,
  text: string,
  log?: (line: string) => void,
): Promise<void> {
  try {
    await fetch(responseUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ replace_original: true, text }),
      signal: AbortSignal.timeout(1500),
    });
  } catch (err) {
    log?.(`could not update the Slack message: ${err instanceof Error ? err.message : String(err)}`);
  }
}
