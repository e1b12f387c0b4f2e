import {
  approvalPolicyOf,
  approvalProgress,
  getConfig,
  releaseDecider,
  streams,
  type ChannelState,
} from "../../core/index.js";
import type { EventData } from "../../events/index.js";
import { approvalRequestMessage, type ApprovalStatus, type ReleaseFacts } from "../adapters/slack.js";
import type { EventStore } from "../adapters/event-store.js";
import { readState } from "./commands.js";
import { readConfig } from "./config.js";
import { loggerOf, type BackendDeps } from "./deps.js";
import { readChannel } from "./promotion.js";

/**
 * Telling people what waits for them: the approval request, posted to the Slack webhook of the
 * release's application, or else to the one in SLIPWAY_SLACK_WEBHOOK_URL.
 */

export async function announceApprovalRequest(
  deps: BackendDeps,
  request: EventData<"ApprovalRequested">,
): Promise<void> {
  if (!deps.postToSlack) return;
  const release = (await readState(deps.store, releaseDecider, streams.release(request.releaseId))).state;
  if (release.status !== "active" || release.bad) return;
  const application = getConfig(await readConfig(deps), "application", release.application)?.spec;
  const slack =
    application?.notifications?.slack ?? (deps.slackWebhookUrl ? { webhookUrl: deps.slackWebhookUrl } : undefined);
  if (!slack) return;
  const policy = (application && approvalPolicyOf(application, request.channel, request.approval)) ?? {
    minApprovers: request.minApprovers,
    approvers: [],
    allowSelfApproval: false,
  };
  const progress = approvalProgress(policy, release.gates[request.channel]?.approvals[request.approval]);
  // Decided before it was asked for (by pre-approvals, or a rejection in advance): nothing to click.
  if (progress.state !== "pending") return;
  const message = await approvalMessage(deps, {
    release,
    channel: request.channel,
    approval: request.approval,
    needed: progress.needed,
    channelState: await readChannel(deps, release.application, request.channel),
    status: { state: "pending", grantedBy: progress.counted, needed: progress.needed },
  });
  await deps.postToSlack(slack.webhookUrl, slack.channel ? { ...message, channel: slack.channel } : message);
  loggerOf(deps).info(
    `${request.channel}: approval "${request.approval}" of ${request.releaseId} posted to Slack${slack.channel ? ` (${slack.channel})` : ""}`,
    { releaseId: request.releaseId, channel: request.channel },
  );
}

/**
 * The approval message for a release in a channel, showing what would change against the release
 * running there now. Built afresh for every update, so each shows the same release the same way.
 */
export async function approvalMessage(
  deps: { store: EventStore },
  input: {
    release: ReleaseFacts;
    channel: string;
    approval: string;
    needed: number;
    channelState?: ChannelState;
    status: ApprovalStatus;
  },
): Promise<ReturnType<typeof approvalRequestMessage>> {
  const { release, channel, approval, needed, channelState, status } = input;
  const running = channelState?.services[release.service]?.converged;
  const current = running && running !== release.releaseId ? await releaseFacts(deps, running) : undefined;
  return approvalRequestMessage({
    release,
    channel,
    approval,
    minApprovers: needed,
    ...(current ? { current } : {}),
    status,
  });
}

async function releaseFacts(deps: { store: EventStore }, releaseId: string): Promise<ReleaseFacts | undefined> {
  const state = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  return state.status === "none" ? undefined : state;
}
