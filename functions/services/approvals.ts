import { approvalState, DomainError, invalid, releaseDecider, streams } from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import {
  APPROVE_ACTION,
  BlockActionsPayload,
  ButtonValue,
  REJECT_ACTION,
  updateSlackMessage,
} from "../adapters/slack.js";
import { handleCommand } from "./commands.js";
import type { ApiDeps } from "./deps.js";

/** Approving or rejecting a release in a channel: from the API, or from Slack's buttons. */

export type ApprovalDecision = {
  releaseId: string;
  channel: string;
  approval: string;
  approver: string;
  decision: "approve" | "reject";
  comment?: string;
};
export type ApprovalView = {
  approval: string;
  state: "approved" | "rejected" | "pending";
  grantedBy: string[];
  minApprovers: number;
};

export async function decideApproval(deps: ApiDeps, input: ApprovalDecision, meta: Metadata): Promise<ApprovalView> {
  const { releaseId, channel, approval, approver, decision, comment } = input;
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(releaseId),
    { type: "DecideApproval", channel, approval, approver, decision, ...(comment ? { comment } : {}) },
    meta,
  );
  const a = result.state.status === "none" ? undefined : result.state.gates[channel]?.approvals[approval];
  return { approval, state: approvalState(a), grantedBy: a?.grantedBy ?? [], minApprovers: a?.minApprovers ?? 1 };
}

/**
 * A click on Approve or Reject, its signature already verified (the route's `slack` access):
 * recorded as the Slack user's decision, and answered with a sentence that also replaces the buttons in the message. A refusal
 * of the decision itself (say, already rejected) is that sentence, not an HTTP error: Slack shows
 * it to the person who clicked.
 */
export async function decideFromSlack(
  deps: ApiDeps,
  rawBody: string,
  meta: (actor: Metadata["actor"]) => Metadata,
): Promise<{ text: string }> {
  let payload: ReturnType<typeof BlockActionsPayload.parse>;
  let target: ReturnType<typeof ButtonValue.parse>;
  try {
    payload = BlockActionsPayload.parse(JSON.parse(new URLSearchParams(rawBody).get("payload") ?? ""));
    target = ButtonValue.parse(JSON.parse(payload.actions[0]!.value ?? ""));
  } catch {
    throw invalid("slack.invalid_payload", "the payload is not a Slipway block_actions callback");
  }
  const actionId = payload.actions[0]!.action_id;
  if (actionId !== APPROVE_ACTION && actionId !== REJECT_ACTION)
    throw invalid("slack.unknown_action", `unknown action ${actionId}`);
  const decision = actionId === APPROVE_ACTION ? "approve" : "reject";
  const who = payload.user.username ?? payload.user.name ?? payload.user.id;
  const approver = `slack:${payload.user.id}`;
  let text: string;
  try {
    const view = await decideApproval(deps, { ...target, approver, decision }, meta({ kind: "user", id: approver }));
    text =
      decision === "reject"
        ? `:x: ${who} rejected ${target.releaseId} for ${target.channel}.`
        : `:white_check_mark: ${who} approved ${target.releaseId} for ${target.channel} (${view.grantedBy.length} of ${view.minApprovers}).`;
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    text = `:warning: ${err.message}`;
  }
  if (payload.response_url) await updateSlackMessage(payload.response_url, text, deps.log);
  return { text };
}
