import {
  approvalPolicyOf,
  approvalProgress,
  getConfig,
  NOTIFICATION_RETRY_DELAYS_S,
  outcomeNotification,
  outcomeOf,
  releaseDecider,
  retryDelay,
  streams,
  targetLabel,
  targetsFor,
  type ChannelState,
  type NotificationTarget,
  type OutcomeFact,
  type OutcomeNotification,
} from "../../core/index.js";
import type { EventData, StoredEvent } from "../../events/index.js";
import { ConcurrencyError, type EventStore } from "../adapters/event-store.js";
import type { NotificationMessage } from "../adapters/notification-queue.js";

export type { NotificationMessage };
import { OutboundError, postJson } from "../adapters/outbound.js";
import { approvalRequestMessage, outcomeMessage, type ApprovalStatus, type ReleaseFacts } from "../adapters/slack.js";
import { readState } from "./commands.js";
import { readConfig } from "./config.js";
import { sha256, signWebhook } from "./credentials.js";
import { loggerOf, nowOf, type BackendDeps, type NotifierDeps } from "./deps.js";
import { readChannel } from "./promotion.js";

/**
 * Telling people what happened and what waits for them. Approval requests are posted to the Slack
 * webhook of the release's application (or else to SLIPWAY_SLACK_WEBHOOK_URL) as they are asked.
 * Outcomes — deployed, converged, failed, rolled back, marked bad — are queued, one message per
 * target, and delivered by the notifier: tried again with growing delays when a target fails,
 * given up on (and recorded as such) after the last try, and recorded when delivered.
 */

/** Where a person sees a release: its page in the dashboard (which asks a browser without a session to sign in). */
export function releaseLink(apiUrl: string | undefined, releaseId: string): string {
  return `${(apiUrl ?? "").replace(/\/+$/, "")}/releases/${encodeURIComponent(releaseId)}`;
}

/** A target's part of a notification id: stable for the target, without its URL. */
function targetId(target: NotificationTarget): string {
  return target.kind === "slack" ? "slack" : `webhook-${sha256(target.url).slice(0, 12)}`;
}

/**
 * Queues the outcomes these events record to every target that wants them. Events of one outcome
 * (a dispatch's instructions) are told of once; a redelivered event queues the same notification
 * ids again, and the notifier delivers each id once it is recorded.
 */
export async function announceOutcomes(deps: BackendDeps, events: readonly StoredEvent[]): Promise<void> {
  if (!deps.notifications) return;
  const facts = new Map<string, { fact: OutcomeFact; correlationId: string }>();
  for (const e of events) {
    const fact = outcomeOf(e);
    if (fact && !facts.has(fact.key)) facts.set(fact.key, { fact, correlationId: e.correlationId });
  }
  if (facts.size === 0) return;
  const config = await readConfig(deps);
  const messages: NotificationMessage[] = [];
  for (const { fact, correlationId } of facts.values()) {
    const release = (await readState(deps.store, releaseDecider, streams.release(fact.releaseId))).state;
    if (release.status === "none") continue;
    const notifications = getConfig(config, "application", release.application)?.spec.notifications;
    for (const target of targetsFor(notifications, fact.outcome)) {
      const id = `${fact.key}.${targetId(target)}`;
      messages.push({
        attempt: 1,
        target,
        notification: outcomeNotification(id, fact, release, releaseLink(deps.apiUrl, fact.releaseId)),
        correlationId,
      });
    }
  }
  await deps.notifications.send(messages);
}

/**
 * One try at one notification: skipped when it was delivered or given up on already (the log
 * says), recorded when the target took it, queued again with the next delay when it did not —
 * and after the last try, recorded as given up on with the reason.
 */
export async function deliverNotification(deps: NotifierDeps, message: NotificationMessage): Promise<void> {
  const { notification: n, target, attempt } = message;
  const log = loggerOf(deps);
  const stream = streams.notification(n.id);
  if ((await deps.store.read(stream)).length > 0) {
    log.debug(`notification ${n.id} was delivered or given up on already`);
    return;
  }
  const record = {
    notificationId: n.id,
    application: n.application,
    releaseId: n.releaseId,
    ...(n.channel ? { channel: n.channel } : {}),
    outcome: n.type.slice("release.".length),
    target: targetLabel(target),
  };
  let outcome: { status: number } | { error: string };
  try {
    outcome = { status: await send(deps, target, n) };
  } catch (err) {
    // Only our own sentences go on: a fetch error may quote the URL.
    if (!(err instanceof OutboundError)) throw err;
    outcome = { error: err.message };
  }
  const meta = {
    occurredAt: nowOf(deps).toISOString(),
    actor: { kind: "system" as const, id: "notifier" },
    correlationId: message.correlationId ?? n.id,
    causationId: n.id,
  };
  if ("status" in outcome) {
    await recordOnce(
      deps.store,
      stream,
      { type: "NotificationDelivered", data: { ...record, attempts: attempt, status: outcome.status } },
      meta,
    );
    return;
  }
  const delay = retryDelay(attempt, deps.retryDelays ?? NOTIFICATION_RETRY_DELAYS_S);
  if (delay === undefined) {
    await recordOnce(
      deps.store,
      stream,
      { type: "NotificationDeadLettered", data: { ...record, attempts: attempt, error: outcome.error } },
      meta,
    );
    return;
  }
  log.warn(
    `${n.releaseId}: telling ${record.target} of ${record.outcome} failed (${outcome.error}); try ${attempt + 1} in ${delay} s`,
    {
      releaseId: n.releaseId,
      notificationId: n.id,
    },
  );
  await deps.notifications.send([{ ...message, attempt: attempt + 1 }], delay);
}

/** A notification's record is its stream's first event; a concurrent delivery that recorded it first wins. */
async function recordOnce(
  store: EventStore,
  stream: string,
  event: Parameters<EventStore["append"]>[2][number],
  meta: Parameters<EventStore["append"]>[3],
): Promise<void> {
  try {
    await store.append(stream, 0, [event], meta);
  } catch (err) {
    if (!(err instanceof ConcurrencyError)) throw err;
  }
}

/** Sends a notification to its target; answers the status the target took it with. */
async function send(deps: NotifierDeps, target: NotificationTarget, n: OutcomeNotification): Promise<number> {
  if (target.kind === "slack") {
    const message = outcomeMessage(n);
    await deps.postToSlack(target.webhookUrl, target.channel ? { ...message, channel: target.channel } : message);
    return 200;
  }
  const secret = await deps.secretStore.value(target.secretName);
  if (secret === undefined)
    throw new OutboundError(`secret ${target.secretName} is not set; set it with PUT /v1/secrets/${target.secretName}`);
  const body = JSON.stringify(n);
  const timestamp = String(Math.floor(nowOf(deps).getTime() / 1000));
  return postJson(target.url, body, {
    what: `webhook ${new URL(target.url).origin}`,
    headers: {
      "user-agent": "Slipway-Notifications/1",
      "idempotency-key": n.id,
      "x-slipway-event": n.type,
      "x-slipway-timestamp": timestamp,
      "x-slipway-signature-256": signWebhook(secret, timestamp, body),
    },
  });
}

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
