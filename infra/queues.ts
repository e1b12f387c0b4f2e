import { alarm } from "./alarms";
import { settings } from "./functions";

/**
 * Delayed precondition re-evaluation (functions/adapters/wake-up-queue.ts schedules, functions/scheduler.ts
 * consumes), its dead-letter queue, and the queue where stream batches that keep failing land.
 * Every dead-letter queue has an alarm on its depth (notifying infra/alarms.ts's topic): anything in
 * one is a release that stopped or a notification that was never tried.
 */
export const preconditionsDlq = new sst.aws.Queue("PreconditionsDlq", {
  transform: { queue: (args) => void (args.messageRetentionSeconds = settings.dlqRetentionSeconds) },
});

export const preconditions = new sst.aws.Queue("Preconditions", {
  visibilityTimeout: `${settings.visibilityTimeoutSeconds} seconds`,
  dlq: { queue: preconditionsDlq.arn, retry: settings.maxReceiveCount },
});

/**
 * Outcome notifications, one message per try at one target (functions/notifier.ts consumes). A
 * failed try is queued again by the notifier with its delay; messages that could not even be tried
 * land in the DLQ.
 */
export const notificationsDlq = new sst.aws.Queue("NotificationsDlq", {
  transform: { queue: (args) => void (args.messageRetentionSeconds = settings.dlqRetentionSeconds) },
});

export const notifications = new sst.aws.Queue("Notifications", {
  visibilityTimeout: `${settings.visibilityTimeoutSeconds} seconds`,
  dlq: { queue: notificationsDlq.arn, retry: settings.maxReceiveCount },
});

/** The stream subscribers' on-failure destination: the batch that could not be handled, by reference. */
export const streamFailures = new sst.aws.Queue("StreamFailures", {
  transform: { queue: (args) => void (args.messageRetentionSeconds = settings.dlqRetentionSeconds) },
});

for (const [name, queue] of [
  ["PreconditionsDlqDepth", preconditionsDlq],
  ["NotificationsDlqDepth", notificationsDlq],
  ["StreamFailuresDepth", streamFailures],
] as const) {
  alarm(name, {
    alarmDescription: `Slipway ${$app.stage}: messages in ${name.replace(/Depth$/, "")} — a release stopped (see the Deploying section of the README)`,
    namespace: "AWS/SQS",
    metricName: "ApproximateNumberOfMessagesVisible",
    dimensions: { QueueName: queue.nodes.queue.name },
    statistic: "Maximum",
    period: 60,
    evaluationPeriods: 1,
    threshold: 0,
    comparisonOperator: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
  });
}
