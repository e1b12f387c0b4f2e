import type { WakeUp } from "../adapters/wake-up-queue.js";
import { nowOf, type BackendDeps } from "./deps.js";
import { evaluate } from "./promotion.js";

/**
 * A time-bound gate's wake-up. A message that arrives early (SQS delays stop at 900 s) is sent on
 * for the rest of the wait; a due one re-evaluates the release's gates, which is idempotent — a
 * duplicate or stale message changes nothing.
 */
export async function wakeUp(deps: BackendDeps, wake: WakeUp, messageId: string): Promise<void> {
  const now = nowOf(deps);
  const early = Date.parse(wake.at) - now.getTime();
  if (early > 1000) {
    await deps.scheduler.schedule(wake, now);
    return;
  }
  // The last second is waited out here; timers may fire a millisecond early, so wait until strictly past it.
  if (early >= 0) await new Promise((r) => setTimeout(r, early + 5));
  await evaluate(deps, wake.releaseId, wake.channel, {
    occurredAt: nowOf(deps).toISOString(),
    actor: { kind: "system", id: "scheduler" },
    correlationId: messageId,
    causationId: messageId,
  });
}
