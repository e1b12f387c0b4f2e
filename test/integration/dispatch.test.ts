import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import { WakeUpQueue } from "../../functions/adapters/wake-up-queue.js";
import type { BackendDeps } from "../../functions/services/deps.js";
import { pushInstruction } from "../../functions/services/push.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";

let deps: BackendDeps;
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
  deps = {
    store,
    readModels: new ReadModels(db, rm.name),
    gateway,
    scheduler: new WakeUpQueue(new SQSClient({}), "unused"),
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
});
