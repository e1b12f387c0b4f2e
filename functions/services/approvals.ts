import {
  approvalPolicyOf,
  approvalProgress,
  DomainError,
  getConfig,
  invalid,
  notFound,
  releaseDecider,
  releaseInChannel,
  streams,
  type ApprovalPolicy,
  type ChannelState,
  type ReleaseInChannel,
  type ReleaseState,
} from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import {
  APPROVE_ACTION,
  BlockActionsPayload,
  ButtonValue,
  ephemeral,
  REJECT_ACTION,
  respondToSlack,
  type ApprovalStatus,
  type SlackReply,
} from "../adapters/slack.js";
import { handleCommand, readState } from "./commands.js";
import { readConfig } from "./config.js";
import { loggerOf, type ApiDeps } from "./deps.js";
import { approvalMessage } from "./notifications.js";
import { evaluateOnWritePath, readChannel } from "./promotion.js";

/** Approving or rejecting a release in a channel: from the API, or from Slack's buttons. */

export type ApprovalDecision = {
  releaseId: string;
  channel: string;
  approval: string;
  /** An API key's name, or `slack:<user id>`. */
  approver: string;
  decision: "approve" | "reject";
  comment?: string;
};
export type ApprovalView = {
  approval: string;
  state: "approved" | "rejected" | "pending";
  /** The approvers that count, under the gate's current list of approvers. */
  grantedBy: string[];
  minApprovers: number;
  /** False while the release has not reached the gate: the decisions so far are pre-approvals. */
  requested: boolean;
  rejected?: { approver: string; comment?: string };
};

type Release = Exclude<ReleaseState, { status: "none" }>;

/** What the decision is made against, read before it: the release, the gate's policy, the channel. */
type Facts = { release: Release; policy?: ApprovalPolicy; channel?: ChannelState; inChannel: ReleaseInChannel };

async function factsFor(deps: ApiDeps, releaseId: string, channel: string, approval: string): Promise<Facts> {
  const { state } = await readState(deps.store, releaseDecider, streams.release(releaseId));
  if (state.status === "none") throw notFound("release.not_found", `release ${releaseId} does not exist`);
  const [config, channelState] = await Promise.all([
    readConfig(deps),
    state.channels.includes(channel) ? readChannel(deps, state.application, channel) : undefined,
  ]);
  const application = getConfig(config, "application", state.application);
  const policy = application ? approvalPolicyOf(application.spec, channel, approval) : undefined;
  return {
    release: state,
    ...(policy ? { policy } : {}),
    ...(channelState ? { channel: channelState } : {}),
    inChannel: releaseInChannel(channelState, state.service, releaseId),
  };
}

async function record(deps: ApiDeps, input: ApprovalDecision, facts: Facts, meta: Metadata): Promise<ApprovalView> {
  const { releaseId, channel, approval, approver, decision, comment } = input;
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(releaseId),
    {
      type: "DecideApproval",
      channel,
      approval,
      approver,
      decision,
      ...(comment ? { comment } : {}),
      ...(facts.policy ? { policy: facts.policy } : {}),
      inChannel: facts.inChannel,
    },
    meta,
  );
  await evaluateOnWritePath(deps, result.events);
  return viewOf(result.state, channel, approval, facts.policy);
}

function viewOf(state: ReleaseState, channel: string, approval: string, policy?: ApprovalPolicy): ApprovalView {
  const a = state.status === "none" ? undefined : state.gates[channel]?.approvals[approval];
  const progress = approvalProgress(
    policy ?? { minApprovers: a?.minApprovers ?? 1, approvers: [], allowSelfApproval: false },
    a,
  );
  return {
    approval,
    state: progress.state,
    grantedBy: progress.counted,
    minApprovers: progress.needed,
    requested: a?.requested ?? false,
    ...(a?.rejected ? { rejected: a.rejected } : {}),
  };
}

/**
 * One decision. The release's stream decides it; what it needs from elsewhere — who may approve
 * (the config), whether the channel already took the release (the channel's stream) — is read first
 * and handed in with the command.
 */
export async function decideApproval(deps: ApiDeps, input: ApprovalDecision, meta: Metadata): Promise<ApprovalView> {
  return record(deps, input, await factsFor(deps, input.releaseId, input.channel, input.approval), meta);
}

/** What the Slack route answers: the same reply as sent through `response_url`, or a sentence for the log. */
export type SlackAnswer = { text: string; response_type?: "ephemeral"; replace_original?: boolean };

/**
 * A click on Approve or Reject, its signature already verified (the route's `slack` access),
 * recorded as the Slack user's decision. The message is updated for everyone through
 * `response_url`: who approved so far, buttons kept while the approval is pending; the outcome in
 * their place once it is decided, or once the release no longer waits for it. A click the
 * approval policy refuses (not an approver, the author) leaves the message alone and is told only
 * to the person who clicked (ephemeral). Refusals are Slack messages, not HTTP errors.
 */
export async function decideFromSlack(
  deps: ApiDeps,
  rawBody: string,
  meta: (actor: Metadata["actor"]) => Metadata,
): Promise<SlackAnswer> {
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
  const approver = `slack:${payload.user.id}`;
  const who = payload.user.username ?? payload.user.name ?? payload.user.id;

  const { reply, answer } = await clicked(
    deps,
    { ...target, approver, decision },
    who,
    meta({ kind: "user", id: approver }),
  );
  if (payload.response_url) await respondToSlack(payload.response_url, reply, loggerOf(deps));
  return answer;
}

async function clicked(
  deps: ApiDeps,
  input: ApprovalDecision,
  who: string,
  meta: Metadata,
): Promise<{ reply: SlackReply; answer: SlackAnswer }> {
  const refused = (err: DomainError) => {
    const reply = ephemeral(`:warning: ${err.message}`);
    return { reply, answer: reply };
  };
  let facts: Facts;
  try {
    facts = await factsFor(deps, input.releaseId, input.channel, input.approval);
  } catch (err) {
    if (err instanceof DomainError) return refused(err);
    throw err;
  }
  const update = async (status: ApprovalStatus, needed: number, text: string) => {
    const message = await approvalMessage(deps, {
      release: facts.release,
      channel: input.channel,
      approval: input.approval,
      needed,
      ...(facts.channel ? { channelState: facts.channel } : {}),
      status,
    });
    return { reply: { replace_original: true as const, ...message }, answer: { text } };
  };
  const target = `${input.releaseId} for ${input.channel}`;
  try {
    const view = await record(deps, input, facts, meta);
    const status: ApprovalStatus =
      view.state === "rejected" && view.rejected
        ? {
            state: "rejected",
            by: view.rejected.approver,
            ...(view.rejected.comment ? { comment: view.rejected.comment } : {}),
          }
        : {
            state: view.state === "approved" ? "approved" : "pending",
            grantedBy: view.grantedBy,
            needed: view.minApprovers,
          };
    return await update(
      status,
      view.minApprovers,
      input.decision === "reject"
        ? `:x: ${who} rejected ${target}.`
        : `:white_check_mark: ${who} approved ${target} (${view.grantedBy.length} of ${view.minApprovers}).`,
    );
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    // The buttons can do nothing any more: the outcome takes their place, for everyone.
    const rejected = facts.release.gates[input.channel]?.approvals[input.approval]?.rejected;
    if (err.code === "approval.rejected" && rejected)
      return update(
        { state: "rejected", by: rejected.approver, ...(rejected.comment ? { comment: rejected.comment } : {}) },
        facts.policy?.minApprovers ?? 1,
        `:warning: ${err.message}`,
      );
    if (err.code === "approval.not_pending")
      return update({ state: "closed", why: err.message }, facts.policy?.minApprovers ?? 1, `:warning: ${err.message}`);
    return refused(err);
  }
}
