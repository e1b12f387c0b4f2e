import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import type { EventStore } from "../../functions/adapters/event-store.js";
import { countSuccess } from "../../functions/services/convergence.js";
import type { BackendDeps } from "../../functions/services/deps.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";
import { releaseCreated } from "../support/fixtures.js";

/**
 * The convergence count against real DynamoDB Local: successes from the runtimes of a channel are
 * counted in a string set; the one that completes the channel's dispatch records ChannelConverged
 * once and starts the release's next channel at once.
 */
let deps: BackendDeps;
let store: EventStore;
let readModels: ReadModels;
const drops: (() => Promise<void>)[] = [];
const meta = {
  occurredAt: "2026-12-04T10:00:00.000Z",
  actor: { kind: "agent" as const, id: "c1" },
  correlationId: "c",
  causationId: "c",
};
const RUNTIMES = ["eu", "us", "ap"];
const id = (releaseId: string, runtime: string) => `shop.staging.${releaseId}.${runtime}`;
const dispatched = (releaseId: string, runtimes = RUNTIMES): DomainEvent[] =>
  runtimes.map((runtime) => ({
    type: "InstructionDispatched",
    data: {
      application: "shop",
      channel: "staging",
      service: "api",
      releaseId,
      runtime,
      instructionId: id(releaseId, runtime),
      payload: { kind: "kubernetes", manifests: ["m"] },
      rollback: false,
    },
  }));
const success = (releaseId: string, runtime: string) => ({
  application: "shop",
  channel: "staging",
  service: "api",
  releaseId,
  instructionId: id(releaseId, runtime),
});

beforeAll(async () => {
  const events = await isolatedEventStore();
  const rm = await isolatedTable("read-models", readModelTableDefinition);
  drops.push(events.table.drop, rm.drop);
  store = events.store;
  readModels = new ReadModels(events.db, rm.name);
  deps = { store, readModels } as unknown as BackendDeps;
});

afterAll(async () => {
  for (const drop of drops) await drop();
});

describe("the convergence count", () => {
  it("converges the channel once, on the success that completes it, and starts the next channel", async () => {
    await store.append(
      streams.release("r1"),
      0,
      [releaseCreated("r1"), { type: "PromotionStarted", data: { releaseId: "r1", channel: "staging" } }],
      meta,
    );
    await store.append(streams.channel("shop", "staging"), 0, dispatched("r1"), meta);
    const converged = async () =>
      (await store.read(streams.channel("shop", "staging"))).filter((e) => e.type === "ChannelConverged");
    const started = async () =>
      (await store.read(streams.release("r1"))).flatMap((e) => (e.type === "PromotionStarted" ? [e.data.channel] : []));

    expect(await countSuccess(deps, success("r1", "eu"), meta)).toBe(false);
    // A repeated report counts once.
    expect(await countSuccess(deps, success("r1", "eu"), meta)).toBe(false);
    expect(await countSuccess(deps, success("r1", "us"), meta)).toBe(false);
    expect(await converged()).toEqual([]);
    expect(await started()).toEqual(["staging"]);

    // The last two at once: one of them completes the count.
    const last = await Promise.all([
      countSuccess(deps, success("r1", "ap"), meta),
      countSuccess(deps, success("r1", "ap"), meta),
    ]);
    expect(last.filter(Boolean)).toHaveLength(1);
    expect((await converged()).map((e) => e.data)).toEqual([
      expect.objectContaining({ service: "api", releaseId: "r1" }),
    ]);
    expect(await started()).toEqual(["staging", "production"]);
    // Counting again (the reactor's safety net) changes nothing.
    expect(await countSuccess(deps, success("r1", "eu"), meta)).toBe(false);
    expect(await converged()).toHaveLength(1);
  });

  it("does not converge a release the channel no longer wants", async () => {
    await store.append(streams.release("r2"), 0, [releaseCreated("r2")], meta);
    const channel = streams.channel("shop", "staging");
    const version = (await store.read(channel)).at(-1)!.version;
    await store.append(channel, version, [...dispatched("r2"), ...dispatched("r3")], meta);
    for (const runtime of RUNTIMES) expect(await countSuccess(deps, success("r2", runtime), meta)).toBe(false);
    expect((await store.read(channel)).some((e) => e.type === "ChannelConverged" && e.data.releaseId === "r2")).toBe(
      false,
    );
  });

  it("spreads a wide dispatch's count over small items, and still converges exactly once", async () => {
    const runtimes = Array.from({ length: 120 }, (_, i) => `rt-${i}`);
    await store.append(streams.release("r9"), 0, [releaseCreated("r9")], meta);
    const channel = streams.channel("shop", "wide");
    const events = dispatched("r9", runtimes).map((e) => {
      const data = (e as Extract<DomainEvent, { type: "InstructionDispatched" }>).data;
      return { ...e, data: { ...data, channel: "wide", instructionId: `shop.wide.r9.${data.runtime}` } } as DomainEvent;
    });
    await store.append(channel, 0, events.slice(0, 60), meta);
    await store.append(channel, 60, events.slice(60), meta);
    const all = runtimes.map((rt) => ({ ...success("r9", rt), channel: "wide", instructionId: `shop.wide.r9.${rt}` }));
    const results = await Promise.all(all.map((s) => countSuccess(deps, s, meta)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.read(channel)).filter((e) => e.type === "ChannelConverged")).toHaveLength(1);
    // 120 ids over 3 items of about 40 each: none holds them all.
    const shards = (await readModels.items("converge#shop/wide")).map((i) => (i.succeeded as Set<string>).size);
    expect(shards).toHaveLength(3);
    expect(shards.reduce((a, b) => a + b, 0)).toBe(120);
    expect(Math.max(...shards)).toBeLessThan(120);
  });
});
