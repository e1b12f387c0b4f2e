import { channelDecider, streams } from "../../core/index.js";
import type { EventData, Metadata } from "../../events/index.js";
import { handleCommand } from "./commands.js";
import { nowOf, type BackendDeps } from "./deps.js";

/**
 * A pause with an `until` ends by itself: a wake-up is scheduled as the pause is seen, like any other
 * timed gate, and at `until` it resumes the channel — if the pause it names is still the one in force.
 * The resume then evaluates the releases waiting there, as any resume does.
 */

export async function scheduleResume(
  deps: BackendDeps,
  paused: EventData<"ChannelPaused">,
  correlationId?: string,
): Promise<void> {
  if (!paused.until) return;
  await deps.scheduler.schedule(
    {
      kind: "resume",
      application: paused.application,
      channel: paused.channel,
      at: paused.until,
      ...(correlationId ? { correlationId } : {}),
    },
    nowOf(deps),
  );
}

export async function endTimedPause(
  deps: BackendDeps,
  application: string,
  channel: string,
  until: string,
  meta: Metadata,
): Promise<void> {
  await handleCommand(
    deps.store,
    channelDecider,
    streams.channel(application, channel),
    { type: "ExpirePause", application, channel, until, now: nowOf(deps).toISOString() },
    meta,
  );
}
