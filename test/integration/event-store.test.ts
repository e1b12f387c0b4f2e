import { PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runtimeDecider, streams } from "../../core/index.js";
import type { DomainEvent, Metadata } from "../../events/index.js";
import { handleCommand } from "../../functions/services/commands.js";
import {
  ClaimTakenError,
  CommandReusedError,
  ConcurrencyError,
  EventStore,
  EventTooLargeError,
  MAX_EVENTS_PER_APPEND,
  TooManyEventsError,
} from "../../functions/adapters/event-store.js";
import { isolatedEventStore } from "../support/dynamo.js";

let store: EventStore;
let db: Awaited<ReturnType<typeof isolatedEventStore>>["db"];
let drop: () => Promise<void>;

beforeAll(async () => {
  const s = await isolatedEventStore();
  store = s.store;
  db = s.db;
  drop = s.table.drop;
});
afterAll(() => drop());

let n = 0;
const stream = () => `release#test-${++n}-${Math.random().toString(36).slice(2, 8)}`;
const meta = (causationId = "cmd-1"): Metadata => ({
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "user", id: "alice@example.com" },
  correlationId: "corr-1",
  causationId,
});
const started = (channel: string): DomainEvent => ({ type: "PromotionStarted", data: { releaseId: "r1", channel } });

describe("event store on DynamoDB Local", () => {
  it("appends and reads back events in order, with the full envelope", async () => {
    const id = stream();
    const first = await store.append(id, 0, [started("staging")], meta());
    const second = await store.append(id, 1, [started("production"), started("canary")], meta("cmd-2"));
    expect(first.version).toBe(1);
    expect(second.version).toBe(3);

    const events = await store.read(id);
    expect(events.map((e) => [e.version, e.type, e.data])).toEqual([
      [1, "PromotionStarted", { releaseId: "r1", channel: "staging" }],
      [2, "PromotionStarted", { releaseId: "r1", channel: "production" }],
      [3, "PromotionStarted", { releaseId: "r1", channel: "canary" }],
    ]);
    expect(events[1]).toMatchObject({
      streamId: id,
      schemaVersion: 1,
      occurredAt: "2026-11-23T10:00:00.000Z",
      actor: { kind: "user", id: "alice@example.com" },
      correlationId: "corr-1",
      causationId: "cmd-2",
    });
    expect(new Set(events.map((e) => e.eventId)).size).toBe(3);
    expect(await store.read(id, 3)).toHaveLength(1);
  });

  it("reads past DynamoDB's 1 MB page limit in order", async () => {
    const id = stream();
    const big = "x".repeat(90_000);
    let version = 0;
    for (let batch = 0; batch < 3; batch++) {
      const events: DomainEvent[] = Array.from({ length: 5 }, (_, i) => ({
        type: "ApplyFailed",
        data: { instructionId: `i-${batch}-${i}`, runtime: "k8s", releaseId: "r1", message: big },
      }));
      version = (await store.append(id, version, events, meta())).version;
    }
    const events = await store.read(id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it("appends several events atomically: a conflict writes none of them", async () => {
    const id = stream();
    await store.append(id, 0, [started("a"), started("b")], meta());
    await expect(store.append(id, 1, [started("c"), started("d"), started("e")], meta())).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect((await store.read(id)).map((e) => e.data)).toEqual([
      { releaseId: "r1", channel: "a" },
      { releaseId: "r1", channel: "b" },
    ]);
  });

  it("refuses a writer whose expected version is ahead of the stream, so no gap can appear", async () => {
    const id = stream();
    await store.append(id, 0, [started("a")], meta());
    await expect(store.append(id, 5, [started("b")], meta())).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.read(id)).map((e) => e.version)).toEqual([1]);
  });

  it("is idempotent by command id: a retried command appends nothing and returns the first events", async () => {
    const id = stream();
    const first = await store.append(id, 0, [started("a"), started("b")], meta(), { commandId: `webhook-${id}` });
    const retry = await store.append(id, 2, [started("a"), started("b")], meta(), { commandId: `webhook-${id}` });
    expect(first.duplicate).toBe(false);
    expect(retry.duplicate).toBe(true);
    expect(retry.events.map((e) => e.eventId)).toEqual(first.events.map((e) => e.eventId));
    expect(retry.version).toBe(2);
    expect(await store.read(id)).toHaveLength(2);
  });

  it("tells a retry from a command id reused for something else by the fingerprint kept with it", async () => {
    const id = stream();
    const commandId = `webhook-${id}`;
    const first = await store.append(id, 0, [started("a")], meta(), { commandId, fingerprint: "f-1" });
    const retry = await store.append(id, 1, [started("a")], meta(), { commandId, fingerprint: "f-1" });
    expect(retry.duplicate).toBe(true);
    expect(retry.events.map((e) => e.eventId)).toEqual(first.events.map((e) => e.eventId));
    await expect(store.append(id, 1, [started("b")], meta(), { commandId, fingerprint: "f-2" })).rejects.toBeInstanceOf(
      CommandReusedError,
    );
    await expect(store.previousCommand(commandId, "f-2")).rejects.toBeInstanceOf(CommandReusedError);
    expect((await store.previousCommand(commandId, "f-1"))?.events.map((e) => e.eventId)).toEqual(
      first.events.map((e) => e.eventId),
    );
    expect(await store.previousCommand(`never-${id}`, "f-1")).toBeUndefined();
    expect((await store.read(id)).map((e) => e.data)).toEqual([{ releaseId: "r1", channel: "a" }]);
  });

  it("takes a claim once: a second append claiming it appends nothing, and a racing claim has one winner", async () => {
    const claim = `signature-${stream()}`;
    const a = stream();
    await store.append(a, 0, [started("a")], meta(), { commandId: `cmd-${a}`, claims: [claim] });
    expect(await store.claimant(claim)).toEqual({ commandId: `cmd-${a}` });
    const b = stream();
    const refused = await store
      .append(b, 0, [started("b")], meta(), { commandId: `cmd-${b}`, claims: [claim] })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ClaimTakenError);
    expect((refused as ClaimTakenError).holder).toBe(`cmd-${a}`);
    // Without a command id too: the claim alone makes the append a transaction.
    await expect(store.append(b, 0, [started("b")], meta(), { claims: [claim] })).rejects.toBeInstanceOf(
      ClaimTakenError,
    );
    expect(await store.read(b)).toEqual([]);
    expect(await store.previousCommand(`cmd-${b}`)).toBeUndefined();

    const contested = `signature-${stream()}`;
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.claim(contested, `cmd-${i}`, meta().occurredAt)),
    );
    expect(outcomes.filter((o) => o.taken)).toHaveLength(1);
    const holder = outcomes.find((o) => o.taken)!.holder;
    expect(outcomes.every((o) => o.holder.commandId === holder.commandId)).toBe(true);
    expect(await store.claimant(contested)).toEqual(holder);
  });

  it("gives exactly one winner per position when writers race, with no gaps or duplicates (50 rounds × 6 writers)", async () => {
    const id = stream();
    const rounds = 50;
    const writers = 6;
    let conflicts = 0;
    for (let round = 0; round < rounds; round++) {
      const results = await Promise.allSettled(
        Array.from({ length: writers }, (_, w) => store.append(id, round, [started(`w${w}-r${round}`)], meta())),
      );
      const winners = results.filter((r) => r.status === "fulfilled");
      const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(winners).toHaveLength(1);
      for (const loser of losers) expect(loser.reason).toBeInstanceOf(ConcurrencyError);
      conflicts += losers.length;
      // A writer that read an older version always fails, however late it arrives.
      if (round > 0)
        await expect(store.append(id, round - 1, [started("stale")], meta())).rejects.toBeInstanceOf(ConcurrencyError);
    }
    expect(conflicts).toBe(rounds * (writers - 1));
    const events = await store.read(id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
    expect(events.some((e) => e.type === "PromotionStarted" && e.data.channel === "stale")).toBe(false);
  });

  it("races multi-event appends with command ids just as safely", async () => {
    const id = stream();
    for (let round = 0; round < 20; round++) {
      const version = (await store.read(id)).length;
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, (_, w) =>
          store.append(id, version, [started(`a${w}`), started(`b${w}`)], meta(), { commandId: `${id}-${round}-${w}` }),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    }
    const events = await store.read(id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it("refuses an event too large for a DynamoDB item before writing anything", async () => {
    const id = stream();
    const huge: DomainEvent = {
      type: "InstructionDispatched",
      data: {
        instructionId: "i1",
        releaseId: "r1",
        channel: "staging",
        application: "shop",
        service: "api",
        runtime: "k8s",
        payload: { kind: "kubernetes", manifests: ["a".repeat(410 * 1024)] },
        rollback: false,
      },
    };
    const error = await store.append(id, 0, [started("a"), huge], meta()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventTooLargeError);
    expect((error as EventTooLargeError).message).toMatch(
      /InstructionDispatched is \d+ bytes; DynamoDB stores at most 409600 bytes/,
    );
    expect(await store.read(id)).toEqual([]);
  });

  it("refuses more events than one transaction can hold", async () => {
    const id = stream();
    const many = Array.from({ length: MAX_EVENTS_PER_APPEND + 1 }, (_, i) => started(`c${i}`));
    await expect(store.append(id, 0, many, meta())).rejects.toBeInstanceOf(TooManyEventsError);
    expect(await store.read(id)).toEqual([]);
  });

  it("refuses data that does not match the catalog before writing", async () => {
    const id = stream();
    const bad = { type: "PromotionStarted", data: { releaseId: "r1" } } as unknown as DomainEvent;
    await expect(store.append(id, 0, [bad], meta())).rejects.toThrow(/channel/);
    expect(await store.read(id)).toEqual([]);
  });

  it("upcasts an event stored under an old schema version when it is read, without rewriting it", async () => {
    const id = stream();
    await db.send(
      new PutCommand({
        TableName: store.tableName,
        Item: {
          stream: id,
          version: 1,
          eventId: "e-old",
          type: "ReleaseCreated",
          schemaVersion: 1,
          occurredAt: "2025-01-01T00:00:00.000Z",
          actor: { kind: "ci", id: "github-actions" },
          correlationId: "c",
          causationId: "c",
          data: JSON.stringify({
            releaseId: "r-old",
            application: "shop",
            service: "api",
            params: [{ name: "image", value: "registry.example.com/api:1.0.0" }],
            commit: "abc123",
            channels: ["staging", "production"],
            configVersions: { application: 1, service: 1 },
          }),
        },
      }),
    );
    const [event] = await store.read(id);
    expect(event).toMatchObject({
      type: "ReleaseCreated",
      schemaVersion: 2,
      data: { params: { image: "registry.example.com/api:1.0.0" }, source: { commit: "abc123" } },
    });
    const raw = await db.send(
      new QueryCommand({
        TableName: store.tableName,
        KeyConditionExpression: "#s = :s",
        ExpressionAttributeNames: { "#s": "stream" },
        ExpressionAttributeValues: { ":s": id },
      }),
    );
    expect(raw.Items?.[0]?.schemaVersion).toBe(1);
  });

  it("decides again on fresh state when a command loses a race, so concurrent commands both land", async () => {
    const runtime = `rt-${n++}`;
    const id = streams.runtime(runtime);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        handleCommand(
          store,
          runtimeDecider,
          id,
          { type: "IssueAgentToken", runtime, tokenId: `t${i}`, tokenHash: "a".repeat(64) },
          meta(`issue-${i}`),
        ),
      ),
    );
    const generations = results.map((r) =>
      r.events[0]?.type === "AgentTokenIssued" ? r.events[0].data.tokenGeneration : 0,
    );
    expect(generations.sort()).toEqual([1, 2, 3, 4, 5]);
    expect((await store.read(id)).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
  });

  it("runs a retried command id once through the command handler", async () => {
    const runtime = `rt-${n++}`;
    const id = streams.runtime(runtime);
    const command = { type: "IssueAgentToken" as const, runtime, tokenId: "t1", tokenHash: "b".repeat(64) };
    const first = await handleCommand(store, runtimeDecider, id, command, meta(), { commandId: `link-${runtime}` });
    const again = await handleCommand(store, runtimeDecider, id, command, meta(), { commandId: `link-${runtime}` });
    expect(again.events.map((e) => e.eventId)).toEqual(first.events.map((e) => e.eventId));
    expect(await store.read(id)).toHaveLength(1);
  });
});
