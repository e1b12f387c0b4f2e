import type { Metadata } from "../../events/index.js";
import type { WakeUp } from "../adapters/wake-up-queue.js";
import { loggerOf, nowOf, type BackendDeps } from "./deps.js";
import { evaluate } from "./promotion.js";
import { pushIfUnacknowledged, redeliver } from "./push.js";
import { endTimedPause } from "./timed-pauses.js";

/**
 * A wake-up: a time-bound gate's, a timed pause's, or a redelivery's. A message that arrives early
 * (SQS delays stop at 900 s) is sent on for the rest of the wait; a due one re-evaluates the
 * release's gates, ends the pause it names, or sends a connection that was still opening what its
 * runtime has not finished. All are idempotent — a duplicate or stale message changes nothing.
 */
export async function wakeUp(deps: BackendDeps, wake: WakeUp, messageId: string): Promise<void> {
  const now = nowOf(deps);
  const early = Date.parse(wake.at) - now.getTime();
  const about =
    wake.kind === "resume"
      ? `the pause of ${wake.channel}`
      : wake.kind === "redeliver"
        ? `what ${wake.runtime} has not finished`
        : wake.kind === "push"
          ? `the instruction at ${wake.streamId}@${wake.version}`
          : `${wake.releaseId} in ${wake.channel}`;
  if (early > 1000) {
    loggerOf(deps).debug(`woke early for ${about}: waiting on until ${wake.at}`);
    await deps.scheduler.schedule(wake, now);
    return;
  }
  // The last second is waited out here; timers may fire a millisecond early, so wait until strictly past it.
  if (early >= 0) await new Promise((r) => setTimeout(r, early + 5));
  const meta: Metadata = {
    occurredAt: nowOf(deps).toISOString(),
    actor: { kind: "system", id: "scheduler" },
    correlationId: wake.correlationId ?? messageId,
    causationId: messageId,
  };
  loggerOf(deps).debug(`${wake.at}: evaluating ${about} again`);
  if (wake.kind === "resume") await endTimedPause(deps, wake.application, wake.channel, wake.at, meta);
  else if (wake.kind === "redeliver")
    await redeliver(deps, wake.runtime, wake.connectionId, meta, wake.upgrade ? { upgrade: true } : {});
  else if (wake.kind === "push") await pushIfUnacknowledged(deps, wake.streamId, wake.version, meta);
  else await evaluate(deps, wake.releaseId, wake.channel, meta);
}
