import type { StoredEvent } from "../events/index.js";
import { parseInstructionId } from "./agent-protocol.js";
import { OUTCOMES, type Notifications, type Outcome } from "./config/schema.js";

/**
 * Outcome notifications, the pure part: which facts of the log are outcomes worth telling of
 * (deployed, converged, failed, rolled back, marked bad), the key each one keeps however often its
 * event is redelivered, which of an application's targets want it, what a webhook receives, and
 * how long a failed delivery waits before the next try.
 */

/** An outcome as the log tells it, before the release's own facts are added. */
export type OutcomeFact = {
  outcome: Outcome;
  /**
   * The same for every delivery of the same fact, and different for every other: a release
   * deployed to a channel twice (after a rollback) is told of twice.
   */
  key: string;
  releaseId: string;
  channel?: string;
  runtime?: string;
  /** What the agent said of a failed apply. */
  message?: string;
  /** Why it was rolled back or marked bad. */
  reason?: string;
  /** The release a rollback went back to. */
  rolledBackTo?: string;
  occurredAt: string;
};

/**
 * The outcome an event records, if it records one. A dispatch of N runtimes is N events of one
 * outcome: they share its key (the dispatch's attempt number is in every instruction id).
 */
export function outcomeOf(e: StoredEvent): OutcomeFact | undefined {
  const at = { occurredAt: e.occurredAt };
  switch (e.type) {
    case "InstructionDispatched": {
      if (e.data.rollback) return undefined; // told of by its ReleaseRolledBack
      const attempt = parseInstructionId(e.data.instructionId)?.attempt ?? 0;
      const { releaseId, channel } = e.data;
      return { outcome: "deployed", key: `${releaseId}.${channel}.deployed.${attempt}`, releaseId, channel, ...at };
    }
    case "ChannelConverged": {
      const { releaseId, channel } = e.data;
      return { outcome: "converged", key: `${releaseId}.${channel}.converged.${e.version}`, releaseId, channel, ...at };
    }
    case "ApplyFailed": {
      const target = parseInstructionId(e.data.instructionId);
      if (!target) return undefined;
      return {
        outcome: "failed",
        key: `${e.data.instructionId}.failed`,
        releaseId: e.data.releaseId,
        channel: target.channel,
        runtime: e.data.runtime,
        message: e.data.message,
        ...at,
      };
    }
    case "ReleaseRolledBack": {
      const { channel, fromReleaseId, toReleaseId, reason } = e.data;
      const releaseId = fromReleaseId ?? toReleaseId;
      return {
        outcome: "rolledBack",
        key: `${releaseId}.${channel}.rolledBack.${e.version}`,
        releaseId,
        channel,
        rolledBackTo: toReleaseId,
        ...(reason ? { reason } : {}),
        ...at,
      };
    }
    case "ReleaseMarkedBad":
      return {
        outcome: "markedBad",
        key: `${e.data.releaseId}.markedBad`,
        releaseId: e.data.releaseId,
        reason: e.data.reason,
        ...at,
      };
    default:
      return undefined;
  }
}

export type NotificationTarget =
  { kind: "slack"; webhookUrl: string; channel?: string } | { kind: "webhook"; url: string; secretName: string };

/** The targets of an application that want an outcome: each lists the outcomes it wants, or wants all. */
export function targetsFor(notifications: Notifications | undefined, outcome: Outcome): NotificationTarget[] {
  const wants = (events: readonly Outcome[] | undefined) => (events ?? OUTCOMES).includes(outcome);
  const slack = notifications?.slack;
  return [
    ...(slack && wants(slack.events)
      ? [{ kind: "slack" as const, webhookUrl: slack.webhookUrl, ...(slack.channel ? { channel: slack.channel } : {}) }]
      : []),
    ...(notifications?.webhooks ?? [])
      .filter((w) => wants(w.events))
      .map((w) => ({ kind: "webhook" as const, url: w.url, secretName: w.secretName })),
  ];
}

/** Where a target is, as records and logs may say it: never a webhook's full URL, which may carry a credential. */
export function targetLabel(target: NotificationTarget): string {
  return target.kind === "slack" ? "slack" : `webhook ${new URL(target.url).origin}`;
}

/** The release as a notification tells of it. */
export type NotifiedRelease = {
  application: string;
  service: string;
  params: Record<string, string | number>;
  author?: string;
  source: { commit?: string; branch?: string; url?: string; message?: string };
};

/**
 * What a webhook receives (docs/notifications.md): a stable, versioned shape. `id` is the
 * idempotency key, the same in every try of the same notification to the same target.
 */
export type OutcomeNotification = {
  id: string;
  type: `release.${Outcome}`;
  occurredAt: string;
  summary: string;
  application: string;
  service: string;
  releaseId: string;
  channel?: string;
  runtime?: string;
  params: Record<string, string | number>;
  author?: string;
  source: NotifiedRelease["source"];
  message?: string;
  reason?: string;
  rolledBackTo?: string;
  /** Where to see the release. */
  url: string;
};

export function outcomeNotification(
  id: string,
  fact: OutcomeFact,
  release: NotifiedRelease,
  url: string,
): OutcomeNotification {
  const { outcome, key: _key, ...rest } = fact;
  return {
    id,
    type: `release.${outcome}`,
    summary: outcomeSummary(fact, release),
    ...rest,
    application: release.application,
    service: release.service,
    params: release.params,
    ...(release.author ? { author: release.author } : {}),
    source: release.source,
    url,
  };
}

/** One sentence a person reads in a chat or an email subject. */
export function outcomeSummary(fact: OutcomeFact, release: Pick<NotifiedRelease, "application" | "service">): string {
  const what = `${release.application}/${release.service} release ${fact.releaseId}`;
  const because = fact.reason ? `: ${fact.reason}` : "";
  switch (fact.outcome) {
    case "deployed":
      return `${what} is deploying to ${fact.channel}`;
    case "converged":
      return `${what} converged in ${fact.channel}`;
    case "failed":
      return `${what} failed in ${fact.channel} on ${fact.runtime}: ${fact.message}`;
    case "rolledBack":
      return `${what} was rolled back in ${fact.channel} to ${fact.rolledBackTo}${because}`;
    case "markedBad":
      return `${what} was marked bad${because}`;
  }
}

/**
 * How long the try after `attempt` failed tries waits (seconds), or undefined when it was the last:
 * `delays[i]` before try i + 2, so `delays.length + 1` tries in all.
 */
export function retryDelay(attempt: number, delays: readonly number[]): number | undefined {
  return delays[attempt - 1];
}

/** By default: 7 tries over about 40 minutes (SQS delays a message 15 minutes at most). */
export const NOTIFICATION_RETRY_DELAYS_S = [10, 30, 120, 300, 900, 900] as const;
