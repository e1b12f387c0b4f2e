import * as z from "zod";
import { Name, type OutcomeNotification } from "../../core/index.js";
import type { EventData } from "../../events/index.js";
import { silentLogger, type Logger } from "./logger.js";
import { postJson, reasonOf } from "./outbound.js";

/**
 * Slack-style approvals, Slack's side of them: the Block Kit message with Approve and Reject
 * buttons posted to an incoming webhook, the shape of the interactive callback that comes back
 * (its signature is checked in services/credentials.ts), and the answers to a click through its
 * `response_url`: the message updated for everyone, or an ephemeral reply to the clicker.
 */

export const APPROVE_ACTION = "slipway_approve";
export const REJECT_ACTION = "slipway_reject";

/** What a button carries back; Slack returns it as it was sent, but whoever forges a click may send anything. */
export const ButtonValue = z.object({ releaseId: z.string().min(1).max(64), channel: Name, approval: Name });

/** What an approval message says of the release: the facts it was created with. */
export type ReleaseFacts = Pick<
  EventData<"ReleaseCreated">,
  "releaseId" | "application" | "service" | "params" | "source"
>;

/**
 * Where the approval stands, shown under the release. While it is pending the buttons stay (with
 * who approved so far); once it is decided — or the release no longer waits for it — the outcome
 * takes their place.
 */
export type ApprovalStatus =
  | { state: "pending"; grantedBy: readonly string[]; needed: number }
  | { state: "approved"; grantedBy: readonly string[]; needed: number }
  | { state: "rejected"; by: string; comment?: string }
  | { state: "closed"; why: string };

/** An identity as Slack shows it: a Slack user as a mention (Slack renders their current name), a key by its name. */
export function slackName(identity: string): string {
  return identity.startsWith("slack:") ? `<@${identity.slice("slack:".length)}>` : escapeText(identity);
}

function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function statusLine(status: ApprovalStatus): string {
  switch (status.state) {
    case "pending":
      return `${status.grantedBy.length} of ${status.needed}: ${status.grantedBy.map(slackName).join(", ")}`;
    case "approved":
      return `:white_check_mark: Approved, ${status.grantedBy.length} of ${status.needed}: ${status.grantedBy.map(slackName).join(", ")}`;
    case "rejected":
      return `:x: Rejected by ${slackName(status.by)}${status.comment ? `: ${escapeText(status.comment)}` : ""}`;
    case "closed":
      return `:no_entry_sign: ${escapeText(status.why)}`;
  }
}

/**
 * The approval request: what would change in the channel — each param whose value differs from the
 * release running there now, as `old → new` — where the approval stands, and the buttons while
 * it can still be decided.
 */
export function approvalRequestMessage(input: {
  release: ReleaseFacts;
  channel: string;
  approval: string;
  minApprovers: number;
  current?: ReleaseFacts;
  status?: ApprovalStatus;
}) {
  const { release, channel, approval, minApprovers, current, status } = input;
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
  const open = !status || status.state === "pending";
  const shown = status && !(status.state === "pending" && status.grantedBy.length === 0);
  const title = `${release.application}/${release.service} release ${release.releaseId} to ${channel}`;
  return {
    text: open ? `Approval needed: ${title}` : `${statusLine(status)} (${title})`,
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `*${open ? "Approval needed" : "Approval"}* to release *${release.application}/${release.service}* to *${channel}*${minApprovers > 1 ? ` (${minApprovers} approvers)` : ""}${source ? `\n${source}` : ""}`,
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
      ...(shown
        ? [{ type: "context", block_id: "slipway_status", elements: [{ type: "mrkdwn", text: statusLine(status) }] }]
        : []),
      ...(open
        ? [
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
          ]
        : []),
    ],
  };
}

const OUTCOME_ICON: Record<OutcomeNotification["type"], string> = {
  "release.deployed": ":rocket:",
  "release.converged": ":white_check_mark:",
  "release.failed": ":x:",
  "release.rolledBack": ":leftwards_arrow_with_hook:",
  "release.markedBad": ":no_entry:",
};

/** An outcome as Slack shows it: the sentence, the params and the source, and a link to the release. */
export function outcomeMessage(n: OutcomeNotification) {
  const facts = [
    ...Object.entries(n.params).map(([name, v]) => `*${escapeText(name)}* \`${escapeText(String(v))}\``),
    n.author && `by ${slackName(n.author)}`,
    n.source.commit && `commit \`${escapeText(n.source.commit.slice(0, 12))}\``,
    n.source.branch && `on \`${escapeText(n.source.branch)}\``,
  ].filter((x): x is string => !!x);
  return {
    text: n.summary,
    blocks: [
      {
        type: "section",
        text: { type: "mrkdwn", text: `${OUTCOME_ICON[n.type]} ${escapeText(n.summary)}` },
        accessory: {
          type: "button",
          action_id: "slipway_view_release",
          text: { type: "plain_text", text: "View release" },
          url: n.url,
        },
      },
      ...(facts.length ? [{ type: "context", elements: [{ type: "mrkdwn", text: facts.join("  ·  ") }] }] : []),
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

/** Posts to Slack's incoming webhook; the URL is a credential, so errors never quote it (adapters/outbound.ts). */
export const postToSlack: SlackPoster = async (webhookUrl, message) => {
  await postJson(webhookUrl, JSON.stringify(message), { what: "Slack's incoming webhook" });
};

/**
 * An answer to a click through its `response_url`: `replace_original` updates the message for
 * everyone; an `ephemeral` one is shown only to the person who clicked and leaves the message be.
 */
export type SlackReply =
  | { replace_original: true; text: string; blocks?: object[] }
  | { replace_original: false; response_type: "ephemeral"; text: string };

export const ephemeral = (text: string): SlackReply => ({ replace_original: false, response_type: "ephemeral", text });

/** Best effort: Slack's 3 s budget for the click leaves no room to retry. */
export async function respondToSlack(
  responseUrl: string,
  reply: SlackReply,
  logger: Logger = silentLogger,
): Promise<void> {
  try {
    const res = await fetch(responseUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(reply),
      signal: AbortSignal.timeout(1500),
    });
    if (!res.ok) logger.warn(`Slack refused the answer to a click: ${res.status}`);
  } catch (err) {
    logger.warn(`could not answer a Slack click (${reasonOf(err)})`);
  }
}
