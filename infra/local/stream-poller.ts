import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record as StreamRecordSdk,
  type DynamoDBStreamsClientConfig,
  type Shard,
} from "@aws-sdk/client-dynamodb-streams";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { StreamEvent, StreamImage as Image } from "../../functions/adapters/lambda-events.js";
import { failedItems, invoke, type LambdaHandler } from "./lambda.js";
import { makePrivateDir, writePrivateFile } from "./private-files.js";

type LambdaStreamRecord = StreamEvent["Records"][number];

/** A DynamoDB stream record exactly as Lambda hands it to a function (the shape the handlers declare), every field set. */
export type DynamoStreamRecord = Required<Omit<LambdaStreamRecord, "userIdentity" | "dynamodb">> & {
  dynamodb: Required<
    Pick<
      NonNullable<LambdaStreamRecord["dynamodb"]>,
      "ApproximateCreationDateTime" | "Keys" | "SequenceNumber" | "SizeBytes" | "StreamViewType"
    >
  > & { NewImage?: Image; OldImage?: Image };
};
export type DynamoStreamEvent = { Records: DynamoStreamRecord[] };

export type StreamMappingOptions = {
  functionName: string;
  handler: LambdaHandler<DynamoStreamEvent, unknown>;
  streamArn: string;
  /** Where checkpoints are kept between runs; without it they live only in memory. */
  checkpointPath?: string;
  batchSize?: number;
  /** How long to gather records before invoking with a partial batch (MaximumBatchingWindowInSeconds). */
  batchingWindowMs?: number;
  /** Retries of a failing batch before it goes to the on-failure destination (Lambda: MaximumRetryAttempts). */
  maximumRetryAttempts?: number;
  bisectBatchOnFunctionError?: boolean;
  /** The on-failure destination: an SQS queue that receives a description of each dropped batch. */
  onFailure?: { sqs: SQSClient; queueUrl: string };
  /** Records the mapping drops before invoking (Lambda's FilterCriteria). */
  filter?: (record: DynamoStreamRecord) => boolean;
  pollIntervalMs?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
  onError?: (err: unknown) => void;
};

type ShardState = { shard: Shard; iterator?: string | null; buffer: DynamoStreamRecord[]; done: boolean };

/**
 * Lambda's event source mapping for a DynamoDB stream, locally: for each shard, in order, it reads
 * records, batches them (batch size, batching window), invokes the function, and advances a
 * persisted checkpoint only past records that were handled. A failing batch is retried from its
 * first failed record (`batchItemFailures` by SequenceNumber), bisected on function errors, and after
 * the last retry described to the on-failure destination and skipped. Child shards are read after
 * their parents are exhausted.
 */
export class StreamEventSourceMapping {
  private readonly client: DynamoDBStreamsClient;
  private readonly shards = new Map<string, ShardState>();
  private checkpoints: Record<string, string> = {};
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private lastDescribe = 0;
  /** Batches invoked, for tests and health. */
  invocations = 0;

  constructor(
    clientConfig: DynamoDBStreamsClientConfig,
    private readonly options: StreamMappingOptions,
  ) {
    this.client = new DynamoDBStreamsClient(clientConfig);
    if (options.checkpointPath && existsSync(options.checkpointPath)) {
      this.checkpoints = JSON.parse(readFileSync(options.checkpointPath, "utf8")) as Record<string, string>;
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    this.client.destroy();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (Date.now() - this.lastDescribe > 5_000 || this.shards.size === 0) await this.describe();
        let progressed = false;
        for (const state of this.shards.values()) {
          if (!this.running) return;
          if (state.done || !this.ready(state)) continue;
          progressed = (await this.pollShard(state)) || progressed;
        }
        if (!progressed) await this.sleep(this.options.pollIntervalMs ?? 100);
      } catch (err) {
        if (!this.running) return;
        this.options.onError?.(err);
        await this.sleep(1000);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** A child shard waits until its parent has been read to the end, which keeps per-item order. */
  private ready(state: ShardState): boolean {
    const parent = state.shard.ParentShardId ? this.shards.get(state.shard.ParentShardId) : undefined;
    return !parent || parent.done;
  }

  private async describe(): Promise<void> {
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.client.send(
        new DescribeStreamCommand({ StreamArn: this.options.streamArn, ExclusiveStartShardId: start }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (!this.shards.has(shard.ShardId!)) this.shards.set(shard.ShardId!, { shard, buffer: [], done: false });
      }
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    this.lastDescribe = Date.now();
  }

  private async iteratorFor(state: ShardState): Promise<string | undefined> {
    const after = this.checkpoints[state.shard.ShardId!];
    const { ShardIterator } = await this.client.send(
      new GetShardIteratorCommand({
        StreamArn: this.options.streamArn,
        ShardId: state.shard.ShardId,
        ...(after
          ? { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: after }
          : { ShardIteratorType: "TRIM_HORIZON" }),
      }),
    );
    return ShardIterator;
  }

  /** Reads what the shard has, then invokes with full batches, or a partial one once the window closed. */
  private async pollShard(state: ShardState): Promise<boolean> {
    const batchSize = this.options.batchSize ?? 100;
    const window = this.options.batchingWindowMs ?? 0;
    const windowEnds = Date.now() + window;
    let fetched = false;
    for (;;) {
      if (state.iterator === undefined) state.iterator = await this.iteratorFor(state);
      if (state.iterator !== null && state.iterator !== undefined && state.buffer.length < batchSize) {
        try {
          const page = await this.client.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }));
          state.iterator = page.NextShardIterator ?? null;
          const records = (page.Records ?? []).map((r) => this.toLambdaRecord(r));
          if (records.length) fetched = true;
          for (const r of records) {
            if (!this.options.filter || this.options.filter(r)) state.buffer.push(r);
            // A filtered record is never delivered; the checkpoint moves past it once the buffer before it is handled.
            else if (state.buffer.length === 0) this.checkpoint(state, r.dynamodb.SequenceNumber);
          }
        } catch (err) {
          if (err instanceof ExpiredIteratorException || err instanceof TrimmedDataAccessException) {
            state.iterator = undefined;
            state.buffer = [];
            continue;
          }
          throw err;
        }
      }
      const closed = state.iterator === null;
      if (state.buffer.length >= batchSize || (state.buffer.length > 0 && (closed || Date.now() >= windowEnds))) {
        const batch = state.buffer.slice(0, batchSize);
        await this.processBatch(state, batch);
        state.buffer = state.buffer.slice(batch.length);
        return true;
      }
      if (closed && state.buffer.length === 0) {
        state.done = true;
        return true;
      }
      if (state.buffer.length === 0 || !this.running) return fetched;
      await this.sleep(Math.min(this.options.pollIntervalMs ?? 100, Math.max(0, windowEnds - Date.now())));
    }
  }

  private async processBatch(state: ShardState, records: DynamoStreamRecord[]): Promise<void> {
    const maxRetries = this.options.maximumRetryAttempts ?? 3;
    let batch = records;
    for (let attempt = 0; ; attempt++) {
      let functionError = false;
      try {
        this.invocations += 1;
        const failed = failedItems(
          await invoke(this.options.functionName, this.options.handler, { Records: batch }, this.options.timeoutMs),
        );
        if (failed.size === 0) {
          this.checkpoint(state, batch.at(-1)!.dynamodb.SequenceNumber);
          return;
        }
        // Retry from the first failed record; an identifier we cannot find fails the whole batch.
        const first = batch.findIndex((r) => failed.has(r.dynamodb.SequenceNumber));
        if (first > 0) {
          this.checkpoint(state, batch[first - 1]!.dynamodb.SequenceNumber);
          batch = batch.slice(first);
        }
      } catch (err) {
        functionError = true;
        this.options.onError?.(err);
      }
      if (!this.running) return;
      const bisect = this.options.bisectBatchOnFunctionError !== false && batch.length > 1;
      if (bisect && (functionError || attempt >= maxRetries)) {
        const middle = Math.ceil(batch.length / 2);
        await this.processBatch(state, batch.slice(0, middle));
        if (this.running) await this.processBatch(state, batch.slice(middle));
        return;
      }
      if (attempt >= maxRetries) {
        await this.sendToFailureDestination(state, batch, attempt + 1);
        this.checkpoint(state, batch.at(-1)!.dynamodb.SequenceNumber);
        return;
      }
      await new Promise((r) => setTimeout(r, (this.options.retryDelayMs ?? 200) * (attempt + 1)));
    }
  }

  private async sendToFailureDestination(
    state: ShardState,
    batch: DynamoStreamRecord[],
    invokeCount: number,
  ): Promise<void> {
    const first = batch[0]!;
    const last = batch.at(-1)!;
    const description = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${this.options.functionName}`,
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: invokeCount,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: state.shard.ShardId,
        startSequenceNumber: first.dynamodb.SequenceNumber,
        endSequenceNumber: last.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.dynamodb.ApproximateCreationDateTime * 1000).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.dynamodb.ApproximateCreationDateTime * 1000).toISOString(),
        batchSize: batch.length,
        streamArn: this.options.streamArn,
      },
    };
    if (this.options.onFailure) {
      await this.options.onFailure.sqs.send(
        new SendMessageCommand({ QueueUrl: this.options.onFailure.queueUrl, MessageBody: JSON.stringify(description) }),
      );
    } else {
      this.options.onError?.(
        new Error(
          `dropped ${batch.length} stream record(s) after retries: ${JSON.stringify(description.DDBStreamBatchInfo)}`,
        ),
      );
    }
  }

  private checkpoint(state: ShardState, sequenceNumber: string): void {
    this.checkpoints[state.shard.ShardId!] = sequenceNumber;
    const path = this.options.checkpointPath;
    if (!path) return;
    // Write-then-rename: a crash leaves the old checkpoint or the new one, never half of one.
    makePrivateDir(dirname(path));
    writePrivateFile(`${path}.tmp`, JSON.stringify(this.checkpoints));
    renameSync(`${path}.tmp`, path);
  }

  private toLambdaRecord(r: StreamRecordSdk): DynamoStreamRecord {
    const d = r.dynamodb!;
    const created = d.ApproximateCreationDateTime;
    return {
      eventID: r.eventID!,
      eventName: r.eventName as DynamoStreamRecord["eventName"],
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: r.awsRegion ?? "us-east-1",
      dynamodb: {
        ApproximateCreationDateTime:
          created instanceof Date ? Math.floor(created.getTime() / 1000) : Number(created ?? 0),
        // The SDK's and Lambda's AttributeValue types differ only in how TypeScript spells them.
        Keys: d.Keys as Image,
        ...(d.NewImage ? { NewImage: d.NewImage as Image } : {}),
        ...(d.OldImage ? { OldImage: d.OldImage as Image } : {}),
        SequenceNumber: d.SequenceNumber!,
        SizeBytes: d.SizeBytes ?? 0,
        StreamViewType: d.StreamViewType ?? "NEW_IMAGE",
      },
      eventSourceARN: this.options.streamArn,
    };
  }
}
