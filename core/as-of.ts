import type { StoredEvent } from "../events/index.js";
import type { ChannelState } from "./deciders/channel.js";
import type { ReleaseState } from "./deciders/release.js";

/**
 * Time travel: the state of a stream as it was at an instant, from its events. The log keeps when
 * each event occurred (its command's time), not when it was appended; an event is appended after
 * it occurred, and after every event before it in its stream. So once one event occurred after
 * the instant, it and every later event of the stream were appended after it too.
 */
export function recordedBy<E extends Pick<StoredEvent, "occurredAt">>(events: readonly E[], at: Date): E[] {
  const until = at.getTime();
  const end = events.findIndex((e) => Date.parse(e.occurredAt) > until);
  return end === -1 ? [...events] : events.slice(0, end);
}

/**
 * Why a release waits in a channel, from the two streams as they stood then: it entered the
 * channel, is still in the running there (active, not bad, not superseded), and the channel has no
 * instruction for it yet. The reasons are the gates it was blocked on. Undefined: it does not wait
 * there.
 */
export function waitsIn(release: ReleaseState, channel: string, channelState: ChannelState): string[] | undefined {
  if (release.status !== "active" || release.bad) return undefined;
  const gates = release.gates[channel];
  if (!gates?.started || gates.supersededBy) return undefined;
  if (Object.values(channelState.instructions).some((i) => i.releaseId === release.releaseId)) return undefined;
  return Object.values(gates.preconditions).flatMap((g) => (g.state === "blocked" ? [g.reason] : []));
}
