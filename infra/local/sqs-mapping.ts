import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { failedItems, invoke, type LambdaHandler } from "./lambda.js";
import { LocalSqs } from "./sqs.js";
import type { QueueEvent } from "../../functions/adapters/lambda-events.js";

/** The event Lambda's SQS event source hands the consumer (the shape the handlers declare). */
export type SqsEvent = QueueEvent;
export type SqsRecord = QueueEvent["Records"][number];

export type SqsMappingOptions = {
  functionName: string;
  queueUrl: string;
  handler: LambdaHandler<SqsEvent, unknown>;
  batchSize?: number;
  timeoutMs?: number;
  onError?: (err: unknown) => void;
};

/**
 * Lambda's SQS event source mapping, locally: long-polls the queue with the real SQS client, invokes
 * the consumer with SQS-shaped batches, deletes what succeeded and leaves the rest — every message
 * of a batch that threw, or the `batchItemFailures` it named — to come back after the visibility
 * timeout (and, past maxReceiveCount, to go to the dead-letter queue).
 */
export class SqsEventSourceMapping {
  private running = false;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();

  constructor(
    private readonly sqs: SQSClient,
    private readonly options: SqsMappingOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const name = this.options.queueUrl.slice(this.options.queueUrl.lastIndexOf("/") + 1);
    const arn = LocalSqs.arnOf(name);
    while (this.running) {
      try {
        const { Messages = [] } = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: this.options.batchSize ?? 10,
            WaitTimeSeconds: 20,
            MessageSystemAttributeNames: ["All"],
          }),
          { abortSignal: this.abort.signal },
        );
        if (Messages.length === 0) continue;
        const records: SqsRecord[] = Messages.map((m) => ({
          messageId: m.MessageId!,
          receiptHandle: m.ReceiptHandle!,
          body: m.Body ?? "",
          attributes: (m.Attributes ?? {}) as SqsRecord["attributes"],
          messageAttributes: Object.fromEntries(
            Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
              k,
              {
                dataType: v.DataType ?? "String",
                ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
                ...(v.BinaryValue ? { binaryValue: Buffer.from(v.BinaryValue).toString("base64") } : {}),
              },
            ]),
          ),
          md5OfBody: m.MD5OfBody ?? "",
          eventSource: "aws:sqs",
          eventSourceARN: arn,
          awsRegion: "us-east-1",
        }));
        let failed: Set<string>;
        try {
          failed = failedItems(
            await invoke(this.options.functionName, this.options.handler, { Records: records }, this.options.timeoutMs),
          );
        } catch (err) {
          this.options.onError?.(err);
          continue; // nothing is deleted: the whole batch comes back after its visibility timeout
        }
        const done = records.filter((r) => !failed.has(r.messageId));
        if (done.length > 0) {
          await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.options.queueUrl,
              Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
            }),
          );
        }
      } catch (err) {
        if (!this.running) return;
        this.options.onError?.(err);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
