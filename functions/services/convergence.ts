import { channelDecider, parseInstructionId, streams, type ChannelState } from "../../core/index.js";
import type { EventOf, Metadata } from "../../events/index.js";
import { convergenceShards } from "../adapters/read-models.js";
import { handleCommand, readState } from "./commands.js";
import { nowOf, type BackendDeps } from "./deps.js";
import { enterNextChannel, evaluateOnWritePath } from "./promotion.js";

/**
 * When a channel has converged: each runtime's success is added to the release's convergence count
 * (string sets in the read-model table, sharded: no contention, a repeat changes nothing), and the report
 * that completes the channel's current dispatch records ChannelConverged in the channel's stream —
 * the only write a success makes there — and starts the release's promotion into its next channel
 * and evaluates its gates there at once, without waiting a stream hop for the reactor to (it does
 * both again on ChannelConverged and PromotionStarted, which changes nothing). The agent's message
 * handler counts at once; the reactor counts again from the log (ApplySucceeded), the safety net
 * for a crash in between.
 */
export type Success = {
  application: string;
  channel: string;
  service: string;
  releaseId: string;
  instructionId: string;
};

/** `channelState`: the channel as the caller has just read it (RecordConvergence still decides on a fresh read). */
export async function countSuccess(
  deps: BackendDeps,
  success: Success,
  meta: Metadata,
  channelState?: ChannelState,
): Promise<boolean> {
  const { application, channel, service, releaseId, instructionId } = success;
  const stream = streams.channel(application, channel);
  const state = channelState ?? (await readState(deps.store, channelDecider, stream)).state;
  const desired = state.services[service]?.desired;
  // A success for a release the channel no longer wants (or has converged already) counts for nothing.
  if (!desired || desired.releaseId !== releaseId || desired.converged) return false;
  const expected = Math.max(desired.instructionCount ?? 0, desired.instructionIds.length);
  const succeeded = await deps.readModels.addSucceeded(
    application,
    channel,
    service,
    releaseId,
    instructionId,
    convergenceShards(expected),
  );
  if (desired.instructionIds.length < (desired.instructionCount ?? 0)) return false;
  if (!desired.instructionIds.every((id) => succeeded.has(id))) return false;
  const { events } = await handleCommand(
    deps.store,
    channelDecider,
    stream,
    { type: "RecordConvergence", service, releaseId, succeeded: [...succeeded], now: nowOf(deps).toISOString() },
    meta,
  );
  if (!events.length) return false;
  await evaluateOnWritePath(deps, await enterNextChannel(deps, releaseId, channel, meta));
  return true;
}

/**
 * A success as the log has it, counted (again): the reactor's safety net. Successes in a channel's
 * own stream (logs before delivery streams) were judged there when they were recorded.
 */
export async function countLoggedSuccess(
  deps: BackendDeps,
  e: EventOf<"ApplySucceeded"> & { streamId: string },
  meta: Metadata,
): Promise<void> {
  const target = parseInstructionId(e.data.instructionId);
  if (!target || !e.data.service || !e.streamId.startsWith("delivery#")) return;
  const { application, channel } = target;
  const { service, releaseId, instructionId } = e.data;
  await countSuccess(deps, { application, channel, service, releaseId, instructionId }, meta);
}
