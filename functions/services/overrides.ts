import { releaseDecider, streams } from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import { handleCommand } from "./commands.js";
import type { ApiDeps } from "./deps.js";
import { evaluateOnWritePath } from "./promotion.js";

/**
 * An admin overrides one blocked gate for one release in one channel. The release decides whether
 * it may (the gate's kind allows it, and it blocks the release there); the evaluation that lets the
 * release go follows from the GateOverridden this appends.
 */
export async function overrideGate(
  deps: ApiDeps,
  input: { releaseId: string; channel: string; gate: string; reason: string; by: string },
  meta: Metadata,
): Promise<{ changed: boolean }> {
  const { releaseId, channel, gate, reason, by } = input;
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(releaseId),
    { type: "OverrideGate", channel, gate, reason, by },
    meta,
  );
  await evaluateOnWritePath(deps, result.events);
  return { changed: result.events.length > 0 };
}
