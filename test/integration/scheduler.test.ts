import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import { WakeUpQueue, type WakeUp } from "../../functions/adapters/wake-up-queue.js";
import type { BackendDeps } from "../../functions/services/deps.js";
import type { QueueEvent } from "../../functions/adapters/lambda-events.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { createScheduler } from "../../functions/scheduler.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { LocalSqs } from "../../infra/local/sqs.js";
import { streams } from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";
import { capturedLogs } from "../support/logs.js";

/** An SQS record as Lambda's event source delivers it. */
function sqsRecord(messageId: string, body: string): QueueEvent["Records"][number] {
  const now = String(Date.now());
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: now,
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:preconditions",
    awsRegion: "us-east-1",
  };
}

let sqs: LocalSqs;
let client: SQSClient;
let queueUrl: string;
let deps: BackendDeps;
const drops: (() => Promise<void>)[] = [];
const NOW = new Date("2026-11-23T10:00:00.000Z");

beforeAll(async () => {
  sqs = new LocalSqs();
  client = new SQSClient({ endpoint: await sqs.listen(), region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  queueUrl = sqs.createQueue("wake-ups").QueueUrl;
  const { store, db, table } = await isolatedEventStore();
  const rm = await isolatedTable("read-models", readModelTableDefinition);
  drops.push(table.drop, rm.drop);
  deps = {
    store,
    readModels: new ReadModels(db, rm.name),
    gateway: {} as AgentGateway,
    scheduler: new WakeUpQueue(client, queueUrl),
    now: () => NOW,
  };
});
afterAll(async () => {
  for (const drop of drops) await drop();
  client.destroy();
  await sqs.close();
});

const attributes = async () =>
  (await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["All"] }))).Attributes!;
const drain = async () =>
  client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));

describe("precondition scheduler", () => {
  it("delays a wake-up to its time (rounded down), at most 900 s per message", async () => {
    const now = new Date();
    const short = { releaseId: "r1", channel: "production", at: new Date(now.getTime() + 2400).toISOString() };
    await deps.scheduler.schedule(short, now);
    await deps.scheduler.schedule(
      { releaseId: "r2", channel: "production", at: new Date(now.getTime() + 3_600_000).toISOString() },
      now,
    );
    expect(await attributes()).toMatchObject({
      ApproximateNumberOfMessagesDelayed: "2",
      ApproximateNumberOfMessages: "0",
    });
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }),
    );
    expect(Messages.map((m) => JSON.parse(m.Body!) as WakeUp)).toEqual([short]);
    expect(Date.now() - now.getTime()).toBeGreaterThanOrEqual(2000);
    expect(await attributes()).toMatchObject({ ApproximateNumberOfMessagesDelayed: "1" });
    for (const m of Messages)
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
  });

  it("sends an early wake-up on for the rest of the wait instead of evaluating", async () => {
    const sent: WakeUp[] = [];
    const handler = createScheduler({
      ...deps,
      scheduler: { schedule: async (w: WakeUp) => void sent.push(w) } as unknown as WakeUpQueue,
    });
    const wake = { releaseId: "r1", channel: "production", at: "2026-11-23T12:00:00.000Z" };
    expect(await handler({ Records: [sqsRecord("m1", JSON.stringify(wake))] })).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([wake]);
  });

  it("evaluates a due wake-up, and a stale one changes nothing", async () => {
    const handler = createScheduler(deps);
    const due = { releaseId: "gone", channel: "production", at: "2026-11-23T09:59:59.000Z" };
    expect(await handler({ Records: [sqsRecord("m2", JSON.stringify(due))] })).toEqual({ batchItemFailures: [] });
    expect(await deps.store.read("release#gone")).toEqual([]);
    expect((await drain()).Messages ?? []).toEqual([]); // nothing was scheduled for it either
  });

  it("ends the timed pause a resume wake-up names, and only that one", async () => {
    const handler = createScheduler(deps);
    const stream = streams.channel("shop", "staging");
    const until = "2026-11-23T09:59:59.000Z";
    const meta: Metadata = {
      occurredAt: NOW.toISOString(),
      actor: { kind: "user", id: "admin" },
      correlationId: "c",
      causationId: "c",
    };
    const pause = (at: string) => ({
      type: "ChannelPaused" as const,
      data: { application: "shop", channel: "staging", until: at },
    });
    await deps.store.append(stream, 0, [pause(until), pause("2026-11-23T11:00:00.000Z")], meta);
    const resume = (at: string) => JSON.stringify({ kind: "resume", application: "shop", channel: "staging", at });
    // Paused again with another until since: the first wake-up resumes nothing.
    expect(await handler({ Records: [sqsRecord("m4", resume(until))] })).toEqual({ batchItemFailures: [] });
    expect((await deps.store.read(stream)).map((e) => e.type)).toEqual(["ChannelPaused", "ChannelPaused"]);
    await deps.store.append(stream, 2, [pause(until)], meta);
    expect(await handler({ Records: [sqsRecord("m5", resume(until)), sqsRecord("m6", resume(until))] })).toEqual({
      batchItemFailures: [],
    });
    const events = await deps.store.read(stream);
    expect(events.slice(3)).toMatchObject([
      { type: "ChannelResumed", data: { until }, actor: { kind: "system", id: "scheduler" } },
    ]);
  });

  it("drops a malformed message rather than retrying it forever", async () => {
    const logs = capturedLogs();
    const handler = createScheduler({ ...deps, logger: logs.logger });
    expect(await handler({ Records: [sqsRecord("m3", JSON.stringify({ releaseId: 1 }))] })).toEqual({
      batchItemFailures: [],
    });
    expect(logs.entries()).toMatchObject([
      { level: "WARN", component: "scheduler", message: "dropping malformed message m3", messageId: "m3" },
    ]);
  });
});
