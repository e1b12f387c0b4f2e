import * as z from "zod";
import type { QueueBatchResponse, QueueEvent } from "./adapters/lambda-events.js";
import { loggerOf, type NotifierDeps } from "./services/deps.js";
import { deliverNotification, type NotificationMessage } from "./services/notifications.js";
import { notifierFromResources } from "./wiring.js";

// What the reactor and the notifier itself queue; checked loosely beyond what delivery relies on.
const Message = z.object({
  attempt: z.number().int().positive(),
  target: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("slack"), webhookUrl: z.string().url(), channel: z.string().optional() }),
    z.object({ kind: z.literal("webhook"), url: z.string().url(), secretName: z.string().min(1) }),
  ]),
  notification: z
    .object({
      id: z.string().min(1).max(400),
      type: z.string().startsWith("release."),
      application: z.string().min(1),
      releaseId: z.string().min(1),
      channel: z.string().optional(),
    })
    .passthrough(),
  correlationId: z.string().min(1).max(256).optional(),
});

/**
 * The notifier: consumes the Notifications queue, one try per message, all of a batch at once (a
 * slow target does not hold up the others). A try that fails is queued again by delivery itself,
 * with its delay; a message reported failed here is one that could not even be tried or queued
 * again, which SQS redelivers and, after its last receive, moves to the DLQ.
 */
export function createNotifier(deps: NotifierDeps) {
  const logger = loggerOf(deps).child({ component: "notifier" });
  return async (event: QueueEvent): Promise<QueueBatchResponse> => {
    const results = await Promise.all(
      event.Records.map(async (record) => {
        const log = logger.child({ messageId: record.messageId });
        let parsed;
        try {
          parsed = Message.safeParse(JSON.parse(record.body));
        } catch {
          parsed = undefined;
        }
        if (!parsed?.success) {
          log.warn(`dropping malformed notification message ${record.messageId}`);
          return undefined;
        }
        const message = parsed.data as NotificationMessage;
        try {
          await deliverNotification(
            {
              ...deps,
              logger: log.child({
                notificationId: message.notification.id,
                ...(message.correlationId ? { correlationId: message.correlationId } : {}),
              }),
            },
            message,
          );
          return undefined;
        } catch (err) {
          log.error(`notification message ${record.messageId} failed; SQS delivers it again`, { error: err });
          return { itemIdentifier: record.messageId };
        }
      }),
    );
    return { batchItemFailures: results.filter((r) => r !== undefined) };
  };
}

let notifier: ReturnType<typeof createNotifier> | undefined;
export const handler = (event: QueueEvent) => {
  notifier ??= createNotifier(notifierFromResources());
  return notifier(event);
};
