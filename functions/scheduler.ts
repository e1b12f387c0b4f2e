import { z } from "zod";
import type { QueueBatchResponse, QueueEvent } from "./adapters/lambda-events.js";
import type { BackendDeps } from "./services/deps.js";
import { wakeUp } from "./services/wake-ups.js";
import { backendFromResources } from "./wiring.js";

const WakeUpMessage = z.union([
  z.object({
    kind: z.literal("resume"),
    application: z.string().min(1),
    channel: z.string().min(1),
    at: z.iso.datetime(),
  }),
  z.object({
    kind: z.literal("evaluate").optional(),
    releaseId: z.string().min(1),
    channel: z.string().min(1),
    at: z.iso.datetime(),
  }),
]);

/**
 * The scheduler: consumes the delayed messages sent for time-bound gates and timed pauses, and reports
 * each failed message by id, so SQS redelivers only those. A malformed message is dropped: no
 * retry would make it valid.
 */
export function createScheduler(deps: BackendDeps) {
  return async (event: QueueEvent): Promise<QueueBatchResponse> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const parsed = WakeUpMessage.safeParse(JSON.parse(record.body));
        if (!parsed.success) {
          deps.log?.(`scheduler: dropping malformed message ${record.messageId}`);
          continue;
        }
        await wakeUp(deps, parsed.data, record.messageId);
      } catch (err) {
        deps.log?.(`scheduler: ${record.messageId} failed: ${err instanceof Error ? err.message : String(err)}`);
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

let scheduler: ReturnType<typeof createScheduler> | undefined;
export const handler = (event: QueueEvent) => {
  scheduler ??= createScheduler(backendFromResources());
  return scheduler(event);
};
