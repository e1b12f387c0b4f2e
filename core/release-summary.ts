import type { DomainEvent, ParamValue } from "../events/index.js";
import type { ChannelState } from "./deciders/channel.js";
import type { ReleaseState } from "./deciders/release.js";

/**
 * The release list's read model: one summary per release, built from two kinds of stream. The
 * release's own stream owns the record (what the release is, which channels it entered, what blocks
 * it there); each channel's stream owns what the release's deployment did in that channel. Each
 * part is versioned by the stream it comes from, so parts written in any order, or twice, settle on
 * the newest; the channel states are derived from the parts when the summary is read.
 */

/** A release in one channel, as the release list shows it. */
export const releaseChannelStates = [
  "pending",
  "waiting",
  "deploying",
  "converged",
  "failed",
  "replaced",
  "rolledBack",
  "superseded",
  "abandoned",
  "bad",
] as const;
export type ReleaseChannelState = (typeof releaseChannelStates)[number];

/** What a channel's stream says of a release's deployment there. */
export type Deployment = Extract<ReleaseChannelState, "deploying" | "converged" | "failed" | "replaced" | "rolledBack">;

/** The part of a summary the release's own stream owns. */
export type ReleaseRecord = {
  releaseId: string;
  application: string;
  service: string;
  params: Record<string, ParamValue>;
  author?: string;
  cause: "ci" | "config";
  createdAt: string;
  status: "active" | "abandoned";
  bad?: { reason: string };
  channels: { name: string; entered: boolean; supersededBy?: string; blocked: string[] }[];
};

export type ReleaseSummary = Omit<ReleaseRecord, "channels"> & {
  channels: { name: string; state: ReleaseChannelState; waiting?: string[] }[];
};

/** The record of a release as its stream stands; undefined before it is created. */
export function releaseRecord(state: ReleaseState, createdAt: string): ReleaseRecord | undefined {
  if (state.status === "none") return undefined;
  const { releaseId, application, service, params, author, cause, status, bad } = state;
  return {
    releaseId,
    application,
    service,
    params,
    ...(author ? { author } : {}),
    cause,
    createdAt,
    status,
    ...(bad ? { bad } : {}),
    channels: state.channels.map((name) => {
      const gates = state.gates[name];
      const blocked = Object.values(gates?.preconditions ?? {}).flatMap((g) =>
        g.state === "blocked" ? [g.reason] : [],
      );
      return {
        name,
        entered: gates?.started ?? false,
        ...(gates?.supersededBy ? { supersededBy: gates.supersededBy } : {}),
        blocked,
      };
    }),
  };
}

/**
 * What a channel event says of the deployments of releases there, given the channel's state before
 * it. Each change is absolute (not relative to the release's previous deployment), so the newest
 * one written wins: a release dispatched is deploying, then converged or failed; a release that ran
 * is replaced once another release is dispatched in its place, or rolled back from.
 */
export function deploymentChanges(
  before: ChannelState,
  e: DomainEvent,
): { releaseId: string; deployment: Deployment }[] {
  switch (e.type) {
    case "InstructionDispatched": {
      const previous = before.services[e.data.service]?.desired?.releaseId;
      // A rollback's dispatch follows its ReleaseRolledBack, which says what became of the release it replaces.
      const replaced =
        previous && previous !== e.data.releaseId && !e.data.rollback
          ? [{ releaseId: previous, deployment: "replaced" as const }]
          : [];
      return [...replaced, { releaseId: e.data.releaseId, deployment: "deploying" }];
    }
    case "ApplyFailed": {
      // A late report about a release no longer desired there says nothing about what the channel runs.
      const service = before.instructions[e.data.instructionId]?.service;
      const desired = service ? before.services[service]?.desired?.releaseId : undefined;
      return desired === e.data.releaseId ? [{ releaseId: e.data.releaseId, deployment: "failed" }] : [];
    }
    case "ChannelConverged":
      return [{ releaseId: e.data.releaseId, deployment: "converged" }];
    case "ReleaseRolledBack":
      return e.data.fromReleaseId ? [{ releaseId: e.data.fromReleaseId, deployment: "rolledBack" }] : [];
    default:
      return [];
  }
}

/**
 * A release's summary from its parts: its record, its deployments by channel and, for channels where
 * it waits, the reasons the promotion recorded (without them, the gates that block it).
 */
export function releaseSummary(
  record: ReleaseRecord,
  deployments: Readonly<Record<string, Deployment>>,
  waiting: Readonly<Record<string, readonly string[]>> = {},
): ReleaseSummary {
  const channels = record.channels.map((ch) => {
    const deployment = deployments[ch.name];
    const state: ReleaseChannelState =
      deployment ??
      (ch.supersededBy
        ? "superseded"
        : record.bad
          ? "bad"
          : record.status === "abandoned"
            ? "abandoned"
            : ch.entered
              ? "waiting"
              : "pending");
    return state === "waiting"
      ? { name: ch.name, state, waiting: [...(waiting[ch.name] ?? ch.blocked)] }
      : { name: ch.name, state };
  });
  return { ...record, channels };
}

export type ReleaseFilter = {
  service?: string;
  author?: string;
  /** Without `state`: releases that entered the channel. */
  channel?: string;
  /** In `channel` if given, else in any channel. */
  state?: ReleaseChannelState;
  /** RFC 3339: created at or after. */
  since?: string;
};

export function matchesRelease(summary: ReleaseSummary, filter: ReleaseFilter): boolean {
  if (filter.service !== undefined && summary.service !== filter.service) return false;
  if (filter.author !== undefined && summary.author !== filter.author) return false;
  if (filter.since !== undefined && Date.parse(summary.createdAt) < Date.parse(filter.since)) return false;
  const inChannel = filter.channel === undefined ? undefined : summary.channels.find((c) => c.name === filter.channel);
  if (filter.channel !== undefined && !inChannel) return false;
  if (filter.state !== undefined)
    return inChannel ? inChannel.state === filter.state : summary.channels.some((c) => c.state === filter.state);
  return inChannel === undefined || inChannel.state !== "pending";
}
