import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainEvent, Metadata } from "../../events/index.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { LocalSqs } from "../../infra/local/sqs.js";
import {
  StreamEventSourceMapping,
  type DynamoStreamEvent,
  type DynamoStreamRecord,
  type StreamMappingOptions,
} from "../../infra/local/stream-poller.js";
import { isolatedEventStore, localDynamoConfig } from "../support/dynamo.js";
import { until } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "slipway-poller-"));
const meta: Metadata = {
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "system", id: "test" },
  correlationId: "c",
  causationId: "c",
};
const started = (channel: string): DomainEvent => ({ type: "PromotionStarted", data: { releaseId: "r", channel } });

let store: EventStore;
let streamArn: string;
let drop: () => Promise<void>;
let sqs: LocalSqs;
let sqsClient: SQSClient;

beforeAll(async () => {
  const s = await isolatedEventStore();
  store = s.store;
  drop = s.table.drop;
  const admin = new DynamoDBClient(localDynamoConfig());
  streamArn = (await admin.send(new DescribeTableCommand({ TableName: store.tableName }))).Table!.LatestStreamArn!;
  admin.destroy();
  sqs = new LocalSqs();
  sqsClient = new SQSClient({ endpoint: await sqs.listen(), region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
});
afterAll(async () => {
  await drop();
  sqsClient.destroy();
  await sqs.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** Each test appends to its own stream and only looks at records of that stream. */
function streamOf(record: DynamoStreamRecord): string {
  return (record.dynamodb.NewImage?.stream as { S: string }).S;
}
function channelOf(record: DynamoStreamRecord): string {
  return (JSON.parse((record.dynamodb.NewImage?.data as { S: string }).S) as { channel: string }).channel;
}

function mapping(
  id: string,
  handler: (records: DynamoStreamRecord[]) => unknown,
  options: Partial<StreamMappingOptions> = {},
) {
  const batches: DynamoStreamRecord[][] = [];
  const m = new StreamEventSourceMapping(localDynamoConfig(), {
    functionName: "projector",
    streamArn,
    retryDelayMs: 20,
    pollIntervalMs: 50,
    filter: (r) => streamOf(r) === id,
    handler: (event: DynamoStreamEvent) => {
      batches.push(event.Records);
      return handler(event.Records);
    },
    ...options,
  });
  return { m, batches };
}

async function append(id: string, ...channels: string[]): Promise<void> {
  const version = (await store.read(id)).length;
  for (const [i, c] of channels.entries()) await store.append(id, version + i, [started(c)], meta);
}

describe("DynamoDB stream event source mapping", () => {
  it("delivers Lambda-shaped records in order, in batches no larger than the batch size", async () => {
    const id = `release#order-${++n}`;
    const seen: string[] = [];
    const { m, batches } = mapping(id, (records) => void seen.push(...records.map(channelOf)), { batchSize: 3 });
    await append(id, "c1", "c2", "c3", "c4", "c5", "c6", "c7");
    m.start();
    try {
      await until(() => seen.length >= 7);
    } finally {
      await m.stop();
    }
    expect(seen).toEqual(["c1", "c2", "c3", "c4", "c5", "c6", "c7"]);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(3);
    expect(batches[0]![0]).toMatchObject({
      eventName: "INSERT",
      eventSource: "aws:dynamodb",
      eventVersion: "1.1",
      eventSourceARN: streamArn,
      dynamodb: {
        Keys: { stream: { S: id }, version: { N: "1" } },
        StreamViewType: "NEW_IMAGE",
        NewImage: { type: { S: "PromotionStarted" } },
      },
    });
  });

  it("gathers records for the batching window before invoking", async () => {
    const id = `release#window-${++n}`;
    const { m, batches } = mapping(id, () => undefined, { batchSize: 100, batchingWindowMs: 1500 });
    m.start();
    try {
      await append(id, "a");
      await new Promise((r) => setTimeout(r, 200));
      await append(id, "b");
      await until(() => batches.flat().length >= 2);
    } finally {
      await m.stop();
    }
    expect(batches.map((b) => b.map(channelOf))).toEqual([["a", "b"]]);
  });

  it("retries a partial batch failure from the first failed record, not before it", async () => {
    const id = `release#partial-${++n}`;
    const seen: string[] = [];
    let failed = false;
    const { m } = mapping(
      id,
      (records) => {
        seen.push(...records.map(channelOf));
        const c3 = records.find((r) => channelOf(r) === "c3");
        if (c3 && !failed) {
          failed = true;
          return { batchItemFailures: [{ itemIdentifier: c3.dynamodb.SequenceNumber }] };
        }
        return { batchItemFailures: [] };
      },
      { batchSize: 10 },
    );
    await append(id, "c1", "c2", "c3", "c4");
    m.start();
    try {
      await until(() => seen.filter((c) => c === "c4").length >= 2);
    } finally {
      await m.stop();
    }
    expect(seen).toEqual(["c1", "c2", "c3", "c4", "c3", "c4"]);
  });

  it("bisects a failing batch to isolate a poison record, sends it to the on-failure queue and moves on", async () => {
    const id = `release#poison-${++n}`;
    const { QueueUrl } = await sqsClient.send(new CreateQueueCommand({ QueueName: `stream-dlq-${n}` }));
    const handled = new Set<string>();
    let poisonSeq = "";
    const { m, batches } = mapping(
      id,
      (records) => {
        const poison = records.find((r) => channelOf(r) === "c5");
        if (poison) {
          poisonSeq = poison.dynamodb.SequenceNumber;
          throw new Error("cannot project c5");
        }
        for (const r of records) handled.add(channelOf(r));
      },
      { batchSize: 8, maximumRetryAttempts: 1, onFailure: { sqs: sqsClient, queueUrl: QueueUrl! } },
    );
    await append(id, "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8");
    m.start();
    try {
      await until(() => handled.size >= 7);
    } finally {
      await m.stop();
    }
    expect([...handled].sort()).toEqual(["c1", "c2", "c3", "c4", "c6", "c7", "c8"]);
    // The poison record was last tried alone.
    expect(batches.filter((b) => b.some((r) => channelOf(r) === "c5")).at(-1)?.length).toBe(1);
    const { Messages } = await sqsClient.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5 }));
    const info = JSON.parse(Messages![0]!.Body!) as {
      requestContext: { condition: string };
      DDBStreamBatchInfo: Record<string, unknown>;
    };
    expect(info.requestContext.condition).toBe("RetryAttemptsExhausted");
    expect(info.DDBStreamBatchInfo).toMatchObject({
      batchSize: 1,
      startSequenceNumber: poisonSeq,
      endSequenceNumber: poisonSeq,
      streamArn,
    });
  });

  it("resumes after a restart from its persisted checkpoint: nothing skipped, nothing handled twice", async () => {
    const id = `release#restart-${++n}`;
    const checkpointPath = join(dir, `checkpoint-${n}.json`);
    const first: string[] = [];
    const a = mapping(id, (records) => void first.push(...records.map(channelOf)), { checkpointPath });
    await append(id, "c1", "c2", "c3");
    a.m.start();
    try {
      await until(() => first.length >= 3);
    } finally {
      await a.m.stop();
    }
    await append(id, "c4", "c5");
    const second: string[] = [];
    const b = mapping(id, (records) => void second.push(...records.map(channelOf)), { checkpointPath });
    b.m.start();
    try {
      await until(() => second.length >= 2);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await b.m.stop();
    }
    expect(first).toEqual(["c1", "c2", "c3"]);
    expect(second).toEqual(["c4", "c5"]);
  });
});
