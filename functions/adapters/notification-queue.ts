import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { NotificationTarget, OutcomeNotification } from "../../core/index.js";
import { MAX_DELAY_S } from "./wake-up-queue.js";

/**
 * One try at one notification to one target, as the Notifications queue carries it; a failed try
 * is sent again with `attempt` + 1 and a delay (services/notifications.ts).
 */
export type NotificationMessage = {
  attempt: number;
  target: NotificationTarget;
  notification: OutcomeNotification;
  /** The story the notification belongs to: the delivery's record carries it on. */
  correlationId?: string;
};

/** SendMessageBatch takes at most 10 entries. */
const BATCH = 10;

export class NotificationQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(messages: readonly NotificationMessage[], delaySeconds = 0): Promise<void> {
    const delay = Math.min(MAX_DELAY_S, Math.max(0, Math.floor(delaySeconds)));
    for (let i = 0; i < messages.length; i += BATCH) {
      const entries = messages.slice(i, i + BATCH).map((m, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(m),
        DelaySeconds: delay,
      }));
      const res = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
      if (res.Failed?.length)
        throw new Error(`SQS refused ${res.Failed.length} notification message(s): ${res.Failed[0]!.Code}`);
    }
  }
}
