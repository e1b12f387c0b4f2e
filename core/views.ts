import type { ClusterIdentity, StoredEvent } from "../events/index.js";
import { parseInstructionId } from "./agent-protocol.js";
import type { ChannelState, InstructionStatus } from "./deciders/channel.js";
import { DELIVERY_STATUS, PROGRESS } from "./deciders/delivery.js";
import { runtimeDecider, tokenOverlap } from "./deciders/runtime.js";
import { fold } from "./decider.js";

/**
 * Read-model evolution: the views the API serves, computed from streams. Pure; the projector
 * stores them and the API reads them, and replaying the log rebuilds them exactly.
 */

export type RuntimeApply = { instructionId: string; releaseId: string; status: InstructionStatus; message?: string };
export type ServiceInChannelView = {
  desiredReleaseId?: string;
  rollback?: boolean;
  convergedReleaseId?: string;
  convergedAt?: string;
  state: "idle" | "deploying" | "converged" | "failed";
  runtimes: Record<string, RuntimeApply>;
};
export type ChannelView = {
  application: string;
  channel: string;
  paused?: { reason?: string; until?: string };
  services: Record<string, ServiceInChannelView>;
};

/**
 * A channel as its stream has it. Its runtimes' progress short of convergence (acknowledged,
 * applying, succeeded) is in their delivery streams: `withProgress` adds it. A dispatch that
 * converged succeeded everywhere, so its runtimes show succeeded from the channel alone.
 */
export function channelView(application: string, channel: string, state: ChannelState): ChannelView {
  const services = Object.fromEntries(
    Object.entries(state.services).map(([name, svc]) => {
      const instructions = (svc.desired?.instructionIds ?? []).flatMap((id) =>
        state.instructions[id] ? [state.instructions[id]] : [],
      );
      const converged = svc.desired?.converged === true;
      const runtimes = Object.fromEntries(
        instructions.map((i) => [
          i.runtime,
          {
            instructionId: i.instructionId,
            releaseId: i.releaseId,
            status: converged && i.status !== "failed" ? "succeeded" : i.status,
            ...(i.message ? { message: i.message } : {}),
          },
        ]),
      );
      const stateOf: ServiceInChannelView["state"] = !svc.desired
        ? "idle"
        : instructions.some((i) => i.status === "failed")
          ? "failed"
          : converged ||
              // Logs written before delivery streams: every report is in the channel's.
              (svc.converged === svc.desired.releaseId && instructions.every((i) => i.status === "succeeded"))
            ? "converged"
            : "deploying";
      const view: ServiceInChannelView = {
        state: stateOf,
        runtimes,
        ...(svc.desired ? { desiredReleaseId: svc.desired.releaseId, rollback: svc.desired.rollback } : {}),
        ...(svc.converged ? { convergedReleaseId: svc.converged } : {}),
        ...(svc.convergedAt ? { convergedAt: svc.convergedAt } : {}),
      };
      return [name, view];
    }),
  );
  return { application, channel, ...(state.paused ? { paused: state.paused } : {}), services };
}

/** What a runtime's delivery stream says of one service's instruction in a channel (a read model of its own). */
export type RuntimeProgress = RuntimeApply & { channel: string; service: string; runtime: string };

/**
 * A channel view with its runtimes' progress: a runtime shows the furthest of what the channel and
 * its delivery stream say of the instruction the channel wants it to run — progress about any
 * other instruction (an older release's) is not about what the channel shows.
 */
export function withProgress(view: ChannelView, progress: readonly RuntimeProgress[]): ChannelView {
  const services = { ...view.services };
  for (const p of progress) {
    const svc = services[p.service];
    const shown = svc?.runtimes[p.runtime];
    if (p.channel !== view.channel || !svc || !shown || shown.instructionId !== p.instructionId) continue;
    if (PROGRESS[p.status] <= PROGRESS[shown.status]) continue;
    services[p.service] = {
      ...svc,
      runtimes: {
        ...svc.runtimes,
        [p.runtime]: { ...shown, status: p.status, ...(p.message ? { message: p.message } : {}) },
      },
    };
  }
  return { ...view, services };
}

/** What an event of a runtime's delivery stream says of its instruction, for the channel views. */
export function deliveryProgress(e: StoredEvent): { application: string; progress: RuntimeProgress } | undefined {
  if (e.type !== "InstructionAcknowledged" && e.type !== "ApplyStarted" && e.type !== "ApplySucceeded")
    return undefined;
  const target = parseInstructionId(e.data.instructionId);
  if (!target || !e.data.service) return undefined;
  const message = e.type === "ApplySucceeded" ? e.data.message : undefined;
  return {
    application: target.application,
    progress: {
      channel: target.channel,
      service: e.data.service,
      runtime: e.data.runtime,
      instructionId: e.data.instructionId,
      releaseId: target.releaseId,
      status: DELIVERY_STATUS[e.type],
      ...(message ? { message } : {}),
    },
  };
}

export type RuntimeStatusView = {
  runtime: string;
  /** An agent has connected with the current token (linking again starts over). */
  linked: boolean;
  /** connected: an agent holds the lease; reconnecting: none has for less than the grace period; disconnected: longer, or never. */
  status: "connected" | "reconnecting" | "disconnected";
  agentVersion?: string;
  leaseGeneration?: number;
  lastSeenAt?: string;
  disconnectReason?: string;
  /** The cluster the runtime is pinned to, and its API server's version as last reported. */
  cluster?: ClusterIdentity;
  /** While a rotation's overlap runs: when the token was rotated, and until when the previous one is accepted. */
  tokenRotatedAt?: string;
  previousTokenValidUntil?: string;
};

/** A runtime's status from its stream, judged at `now` against the disconnect grace period. */
export function runtimeStatusView(
  runtime: string,
  history: readonly StoredEvent[],
  now: string,
  graceSeconds: number,
): RuntimeStatusView {
  const state = fold(runtimeDecider, history);
  const { linked, lease, cluster } = state;
  // When the agent was last there, and why it left: the lease's last change.
  let holder: string | undefined;
  let lastSeenAt: string | undefined;
  let disconnectReason: string | undefined;
  for (const e of history) {
    if (e.type === "AgentConnected") {
      holder = e.data.connectionId;
      lastSeenAt = e.occurredAt;
      disconnectReason = undefined;
    } else if (e.type === "AgentDisconnected" && e.data.connectionId === holder) {
      holder = undefined;
      lastSeenAt = e.occurredAt;
      disconnectReason = e.data.reason;
    }
  }
  const status = lease
    ? "connected"
    : lastSeenAt && Date.parse(now) - Date.parse(lastSeenAt) < graceSeconds * 1000
      ? "reconnecting"
      : "disconnected";
  return {
    runtime,
    linked,
    status,
    ...(lease ? { agentVersion: lease.agentVersion, leaseGeneration: lease.generation } : {}),
    ...(lastSeenAt ? { lastSeenAt } : {}),
    ...(disconnectReason ? { disconnectReason } : {}),
    ...(cluster ? { cluster } : {}),
    ...tokenOverlap(state, now),
  };
}

/**
 * Every release an event is about, for their timelines: the release it names, and for a rollback
 * both the release rolled back to and the one rolled back from.
 */
export function releasesOf(e: StoredEvent): string[] {
  const primary = releaseOf(e);
  const from = e.type === "ReleaseRolledBack" ? e.data.fromReleaseId : undefined;
  return [...new Set([primary, from].filter((id): id is string => id !== undefined))];
}

/** The release an event is chiefly about (the feed's `releaseId`); undefined for events about none. */
export function releaseOf(e: StoredEvent): string | undefined {
  const data = e.data as Record<string, unknown>;
  if (typeof data.releaseId === "string") return data.releaseId;
  if (e.type === "ReleaseRolledBack") return e.data.toReleaseId;
  if (e.type === "InstructionAcknowledged") return parseInstructionId(e.data.instructionId)?.releaseId;
  return undefined;
}
