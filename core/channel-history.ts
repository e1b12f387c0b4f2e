import type { StoredEvent } from "../events/index.js";

/**
 * A release channel's history as operators read it, from the channel's stream: what was dispatched
 * and rolled back, what converged or failed, pauses and resumes. Acknowledgements and progress
 * reports are left out; they are in the release's own history.
 */

export type ChannelHistoryEntry = {
  at: string;
  kind: "dispatched" | "converged" | "failed" | "rolledBack" | "paused" | "resumed";
  service?: string;
  releaseId?: string;
  fromReleaseId?: string;
  actor: { kind: string; id: string };
  reason?: string;
  message?: string;
  approvedBy?: string[];
};

/**
 * One dispatch of a release to a service is appended as one InstructionDispatched per runtime;
 * they share this key, so the history shows the dispatch once. Rollbacks' dispatches have none:
 * their ReleaseRolledBack is the entry.
 */
export function dispatchOf(e: StoredEvent): string | undefined {
  return e.type === "InstructionDispatched" && !e.data.rollback ? `${e.data.releaseId}/${e.data.service}` : undefined;
}

/**
 * The entry an event makes, read newest first: `newer` is the dispatch of the event just after it
 * in the stream, so only the newest instruction of a dispatch makes its entry.
 */
export function historyEntry(e: StoredEvent, newer: string | undefined): ChannelHistoryEntry | undefined {
  const base = { at: e.occurredAt, actor: e.actor };
  switch (e.type) {
    case "InstructionDispatched": {
      const dispatch = dispatchOf(e);
      if (!dispatch || dispatch === newer) return undefined;
      return { ...base, kind: "dispatched", service: e.data.service, releaseId: e.data.releaseId };
    }
    case "ChannelConverged":
      return { ...base, kind: "converged", service: e.data.service, releaseId: e.data.releaseId };
    case "ApplyFailed":
      return { ...base, kind: "failed", releaseId: e.data.releaseId, message: `${e.data.runtime}: ${e.data.message}` };
    case "ReleaseRolledBack":
      return {
        ...base,
        kind: "rolledBack",
        service: e.data.service,
        releaseId: e.data.toReleaseId,
        ...(e.data.fromReleaseId ? { fromReleaseId: e.data.fromReleaseId } : {}),
        ...(e.data.reason ? { reason: e.data.reason } : {}),
      };
    case "ChannelPaused":
      return { ...base, kind: "paused", ...(e.data.reason ? { reason: e.data.reason } : {}) };
    case "ChannelResumed":
      return { ...base, kind: "resumed" };
    default:
      return undefined;
  }
}
