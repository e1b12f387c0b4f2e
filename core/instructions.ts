import { instructionId } from "./agent-protocol.js";
import type { ChannelState, PlannedInstruction } from "./deciders/channel.js";
import { renderInstructions, type RenderInput } from "./render.js";

/**
 * What a channel's runtimes must apply for one release, rendered and given instruction ids — for
 * a deploy and for a rollback alike. Throws the renderer's DomainError when the config cannot be
 * rendered.
 *
 * A channel keeps every instruction it sent, refuses an id twice, and agents apply an id once; so
 * each dispatch of the same release to the channel (its deploy, every rollback to it) numbers its
 * ids past the instructions already sent for that release.
 */
export function planInstructions(
  input: RenderInput & { channelState: ChannelState | undefined },
): PlannedInstruction[] {
  const { application, channel, service, releaseId, channelState } = input;
  const attempt = Object.values(channelState?.instructions ?? {}).filter(
    (i) => i.releaseId === releaseId && i.service === service.name,
  ).length;
  return renderInstructions(input).map((r) => ({
    instructionId: instructionId(application.name, channel, releaseId, r.runtime, attempt),
    runtime: r.runtime,
    payload: r.payload,
  }));
}
