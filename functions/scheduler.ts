import * as z from "zod";
import type { QueueBatchResponse, QueueEvent } from "./adapters/lambda-events.js";
import { loggerOf, type BackendDeps } from "./services/deps.js";
import { wakeUp } from "./services/wake-ups.js";
import { backendFromResources } from "./wiring.js";

const WakeUpMessage = z.union([
  z.object({
    kind: z.literal("resume"),
    application: z.string().min(1),
    channel: z.string().min(1),
    at: z.iso.datetime(),
    correlationId: z.string().min(1).max(256).optional(),
  }),
  z.object({
    kind: z.literal("redeliver"),
    runtime: z.string().min(1),
    connectionId: z.string().min(1),
    at: z.iso.datetime(),
    upgrade: z.boolean().optional(),
    correlationId: z.string().min(1).max(256).optional(),
  }),
  z.object({
    kind: z.literal("push"),
    streamId: z.string().min(1).max(512),
    version: z.number().int().min(1),
    at: z.iso.datetime(),
    correlationId: z.string().min(1).max(256).optional(),
  }),
  z.object({
    kind: z.literal("evaluate").optional(),
    releaseId: z.string().min(1),
    channel: z.string().min(1),
    at: z.iso.datetime(),
    correlationId: z.string().min(1).max(256).optional(),
  }),
]);

/**
 * The scheduler: consumes the delayed messages sent for time-bound gates, timed pauses,
 * redeliveries to connections that were still opening and the write path's push checks, and reports
 * each failed message by id, so SQS redelivers only those. A malformed message is dropped: no
 * retry would make it valid.
 */
export function createScheduler(deps: BackendDeps) {
  const logger = loggerOf(deps).child({ component: "scheduler" });
  return async (event: QueueEvent): Promise<QueueBatchResponse> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      const log = logger.child({ messageId: record.messageId });
      try {
        const parsed = WakeUpMessage.safeParse(JSON.parse(record.body));
        if (!parsed.success) {
          log.warn(`dropping malformed message ${record.messageId}`);
          continue;
        }
        const { correlationId } = parsed.data;
        await wakeUp(
          { ...deps, logger: correlationId ? log.child({ correlationId }) : log },
          parsed.data,
          record.messageId,
        );
      } catch (err) {
        // SQS delivers it again after the visibility timeout, and after the last receive moves it to the DLQ.
        log.error(`message ${record.messageId} failed; SQS delivers it again`, { error: err });
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
