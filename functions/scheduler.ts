import { z } from "zod";
import { backendFromResources, nowOf, type BackendDeps } from "./adapters/backend.js";
import { evaluate } from "./adapters/promoter.js";

const WakeUpMessage = z.object({ releaseId: z.string().min(1), channel: z.string().min(1), at: z.iso.datetime() });

type SqsEvent = { Records: { messageId: string; body: string }[] };

/**
 * The precondition scheduler: consumes the delayed messages the promoter sends for time-bound gates.
 * A message that arrives early (SQS delays stop at 900 s) is sent on for the rest of the wait; a
 * due one re-evaluates the release's gates, which is idempotent — a duplicate or stale message
 * changes nothing.
 */
export function createScheduler(deps: BackendDeps) {
  return async (event: SqsEvent) => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const parsed = WakeUpMessage.safeParse(JSON.parse(record.body));
        if (!parsed.success) {
          deps.log?.(`scheduler: dropping malformed message ${record.messageId}`);
          continue;
        }
        const wake = parsed.data;
        const now = nowOf(deps);
        // A wait longer than SQS's 900 s arrives early and is sent on; the last second is waited out here.
        const early = Date.parse(wake.at) - now.getTime();
        if (early > 1000) {
          await deps.scheduler.schedule(wake, now);
          continue;
        }
        // Timers may fire a millisecond early: wait until strictly past the due time.
        if (early >= 0) await new Promise((r) => setTimeout(r, early + 5));
        await evaluate(deps, wake.releaseId, wake.channel, { occurredAt: nowOf(deps).toISOString(), actor: { kind: "system", id: "scheduler" }, correlationId: record.messageId, causationId: record.messageId });
      } catch (err) {
        deps.log?.(`scheduler: ${record.messageId} failed: ${err instanceof Error ? err.message : String(err)}`);
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

let scheduler: ReturnType<typeof createScheduler> | undefined;
export const handler = (event: SqsEvent) => {
  scheduler ??= createScheduler(backendFromResources());
  return scheduler(event);
};
