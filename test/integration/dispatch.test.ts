import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import { WakeUpQueue } from "../../functions/adapters/wake-up-queue.js";
import type { BackendDeps } from "../../functions/services/deps.js";
import { pushInstruction } from "../../functions/services/push.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { LocalSqs } from "../../infra/local/sqs.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";

let deps: BackendDeps;
let sqs: LocalSqs;
let client: SQSClient;
let queueUrl: string;
let now = new Date("2026-11-23T10:00:00.000Z");
const drops: (() => Promise<void>)[] = [];
const sent: { connectionId: string; message: unknown }[] = [];
let answer: "sent" | "gone" = "sent";
const meta = {
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "system" as const, id: "test" },
  correlationId: "c",
  causationId: "c",
};
const HASH = "d".repeat(64);
const instruction = {
  instructionId: "shop.staging.r1.k8s",
  application: "shop",
  channel: "staging",
  service: "api",
  releaseId: "r1",
  runtime: "k8s",
  rollback: false,
  payload: { kind: "kubernetes" as const, manifests: ["kind: Deployment"] },
};

beforeAll(async () => {
  const { store, db, table } = await isolatedEventStore();
  const rm = await isolatedTable("read-models", readModelTableDefinition);
  drops.push(table.drop, rm.drop);
  // API Gateway's side is the one thing stood in for here: the event log is real.
  const gateway = {
    send: async (connectionId: string, message: unknown) => (sent.push({ connectionId, message }), answer),
  } as unknown as AgentGateway;
  sqs = new LocalSqs();
  client = new SQSClient({ endpoint: await sqs.listen(), region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  queueUrl = sqs.createQueue("wake-ups").QueueUrl;
  deps = {
    store,
    readModels: new ReadModels(db, rm.name),
    gateway,
    scheduler: new WakeUpQueue(client, queueUrl),
    now: () => now,
  };
  await store.append(
    streams.runtime("k8s"),
    0,
    [
      { type: "AgentTokenIssued", data: { runtime: "k8s", tokenId: "t1", tokenHash: HASH, tokenGeneration: 1 } },
      { type: "RuntimeLinked", data: { runtime: "k8s", connectionId: "c1", agentVersion: "1.0.0" } },
      {
        type: "AgentConnected",
        data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, agentVersion: "1.0.0" },
      },
    ],
    meta,
  );
});
afterAll(async () => {
  for (const drop of drops) await drop();
  client.destroy();
  await sqs.close();
});

describe("pushing instructions", () => {
  it("sends the instruction to the lease holder, stamped with its lease generation", async () => {
    expect(await pushInstruction(deps, instruction, meta)).toBe("sent");
    expect(sent.at(-1)).toEqual({
      connectionId: "c1",
      message: expect.objectContaining({
        type: "instruction",
        instructionId: instruction.instructionId,
        leaseGeneration: 1,
        payload: instruction.payload,
      }),
    });
  });

  it("marks a gone connection disconnected, so the instruction waits for the next agent", async () => {
    answer = "gone";
    expect(await pushInstruction(deps, instruction, meta)).toBe("gone");
    const events = await deps.store.read(streams.runtime("k8s"));
    expect(events.at(-1)).toMatchObject({
      type: "AgentDisconnected",
      data: { connectionId: "c1", reason: expect.stringContaining("410") },
    });
    const before = sent.length;
    expect(await pushInstruction(deps, instruction, meta)).toBe("no-agent");
    expect(sent.length).toBe(before);
  });

  it("keeps the lease of a connection still in its $connect, and sends again a second later", async () => {
    // A lease granted just now: API Gateway answers 410 until $connect returns.
    now = new Date("2026-11-23T10:05:00.000Z");
    const version = (await deps.store.read(streams.runtime("k8s"))).at(-1)!.version;
    await deps.store.append(
      streams.runtime("k8s"),
      version,
      [
        {
          type: "AgentConnected",
          data: {
            runtime: "k8s",
            connectionId: "c2",
            leaseGeneration: 2,
            agentVersion: "1.0.0",
            connectedAt: now.toISOString(),
          },
        },
      ],
      { ...meta, occurredAt: now.toISOString() },
    );
    answer = "gone";
    now = new Date("2026-11-23T10:05:01.000Z");
    expect(await pushInstruction(deps, instruction, meta)).toBe("opening");
    expect((await deps.store.read(streams.runtime("k8s"))).at(-1)).toMatchObject({
      type: "AgentConnected",
      data: { connectionId: "c2" },
    });
    const { Messages } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }),
    );
    expect(Messages?.map((m) => JSON.parse(m.Body!) as unknown)).toEqual([
      { kind: "redeliver", runtime: "k8s", connectionId: "c2", at: "2026-11-23T10:05:02.000Z", correlationId: "c" },
    ]);

    // Still gone once it can no longer be opening: the lease is given up.
    now = new Date("2026-11-23T10:05:31.000Z");
    expect(await pushInstruction(deps, instruction, meta)).toBe("gone");
    expect((await deps.store.read(streams.runtime("k8s"))).at(-1)).toMatchObject({
      type: "AgentDisconnected",
      data: { connectionId: "c2" },
    });
  });
});
