import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelDecider, fold, streams, type ChannelView } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import type { EventStore } from "../../functions/adapters/event-store.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import type { StreamEvent, StreamImage } from "../../functions/adapters/lambda-events.js";
import { createProjector } from "../../functions/projector.js";
import { ChannelStates } from "../../functions/services/projection.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";

let store: EventStore;
let db: Awaited<ReturnType<typeof isolatedEventStore>>["db"];
const drops: (() => Promise<void>)[] = [];
const meta = {
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "agent" as const, id: "c1" },
  correlationId: "c",
  causationId: "c",
};
const payload = { kind: "kubernetes" as const, manifests: ["m"] };
const channelStream = streams.channel("shop", "staging");

async function readModels() {
  const table = await isolatedTable("views", readModelTableDefinition);
  drops.push(table.drop);
  return new ReadModels(db, table.name);
}

/** The stream records DynamoDB would deliver for a log stream, built from its items. */
async function records(streamId: string): Promise<StreamEvent["Records"]> {
  const { Items = [] } = await db.send(
    new QueryCommand({
      TableName: store.tableName,
      KeyConditionExpression: "#s = :s",
      ExpressionAttributeNames: { "#s": "stream" },
      ExpressionAttributeValues: { ":s": streamId },
    }),
  );
  return Items.map((item, i) => ({
    dynamodb: { NewImage: marshall(item) as StreamImage, SequenceNumber: String(i + 1).padStart(21, "0") },
  }));
}

beforeAll(async () => {
  const s = await isolatedEventStore();
  store = s.store;
  db = s.db;
  drops.push(s.table.drop);
  const channel: DomainEvent[] = [
    {
      type: "InstructionDispatched",
      data: {
        application: "shop",
        channel: "staging",
        service: "api",
        releaseId: "r1",
        runtime: "k8s",
        instructionId: "shop.staging.r1.k8s",
        payload,
        rollback: false,
      },
    },
    {
      type: "InstructionAcknowledged",
      data: { instructionId: "shop.staging.r1.k8s", runtime: "k8s", connectionId: "c1", leaseGeneration: 1 },
    },
    { type: "ApplySucceeded", data: { instructionId: "shop.staging.r1.k8s", runtime: "k8s", releaseId: "r1" } },
    {
      type: "ChannelConverged",
      data: {
        application: "shop",
        channel: "staging",
        service: "api",
        releaseId: "r1",
        convergedAt: "2026-11-23T10:00:05.000Z",
      },
    },
  ];
  for (const [i, e] of channel.entries())
    await store.append(channelStream, i, [e], { ...meta, occurredAt: `2026-11-23T10:00:0${i}.000Z` });
  await store.append(
    streams.release("r1"),
    0,
    [{ type: "PromotionStarted", data: { releaseId: "r1", channel: "staging" } }],
    { ...meta, occurredAt: "2026-11-23T09:59:59.000Z" },
  );
});
afterAll(async () => {
  for (const drop of drops) await drop();
});

describe("projector", () => {
  it("builds the channel view and the release timeline", async () => {
    const views = await readModels();
    const project = createProjector({ store, readModels: views });
    expect(
      await project({ Records: [...(await records(channelStream)), ...(await records(streams.release("r1")))] }),
    ).toEqual({ batchItemFailures: [] });
    expect(await views.view<ChannelView>("app#shop", "channel#staging")).toEqual({
      application: "shop",
      channel: "staging",
      services: {
        api: {
          state: "converged",
          desiredReleaseId: "r1",
          rollback: false,
          convergedReleaseId: "r1",
          convergedAt: "2026-11-23T10:00:05.000Z",
          runtimes: { k8s: { instructionId: "shop.staging.r1.k8s", releaseId: "r1", status: "succeeded" } },
        },
      },
    });
    expect((await views.timeline("r1")).map((t) => t.type)).toEqual([
      "PromotionStarted",
      "InstructionDispatched",
      "InstructionAcknowledged",
      "ApplySucceeded",
      "ChannelConverged",
    ]);
  });

  it("is idempotent under redelivery and never moves a view back on a late record", async () => {
    const views = await readModels();
    const project = createProjector({ store, readModels: views });
    const all = await records(channelStream);
    await project({ Records: all });
    const before = await views.view<ChannelView>("app#shop", "channel#staging");
    await project({ Records: all });
    await project({ Records: [all[0]!, all[1]!] });
    expect(await views.view<ChannelView>("app#shop", "channel#staging")).toEqual(before);
    expect(await views.timeline("r1")).toHaveLength(4);
  });

  it("rebuilds the same views from the log into an empty table", async () => {
    const first = await readModels();
    const second = await readModels();
    const all = [...(await records(channelStream)), ...(await records(streams.release("r1")))];
    await createProjector({ store, readModels: first })({ Records: all });
    await createProjector({ store, readModels: second })({ Records: all });
    expect(await second.views("app#shop")).toEqual(await first.views("app#shop"));
    expect(await second.timeline("r1")).toEqual(await first.timeline("r1"));
  });

  it("continues a channel's state from the last event it projected, and reads the log after a gap", async () => {
    const events = await store.read(channelStream);
    const reads: [number, number | undefined][] = [];
    const counting = {
      read: (id: string, from?: number, to?: number) => (reads.push([from ?? 1, to]), store.read(id, from, to)),
    } as unknown as EventStore;
    const cache = new ChannelStates();
    const expected = (n: number) => fold(channelDecider, events.slice(0, n));
    expect(await cache.at(counting, events[0]!)).toEqual(expected(1));
    expect(await cache.at(counting, events[1]!)).toEqual(expected(2));
    expect(reads).toEqual([]); // the first has nothing before it; the second followed on without a read
    expect(await cache.at(counting, events[3]!)).toEqual(expected(4)); // a gap: read again
    expect(reads).toEqual([[1, 4]]);
    expect(await cache.at(counting, events[3]!)).toEqual(expected(4)); // redelivered: the same state
    expect(reads).toHaveLength(1);
  });
});
