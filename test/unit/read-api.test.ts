import { describe, expect, it } from "vitest";
import {
  applicationOf,
  channelDecider,
  dispatchOf,
  feedData,
  feedEntry,
  feedPosition,
  fold,
  historyEntry,
  hourOf,
  inFeed,
  recordedBy,
  releaseDecider,
  releasesOf,
  waitsIn,
  type ChannelHistoryEntry,
} from "../../core/index.js";
import type { DomainEvent, StoredEvent } from "../../events/index.js";
import { decodeCursor, encodeCursor } from "../../functions/services/cursor.js";

/** The read API's pure parts: cursors, feed positions and entries, channel history, time travel. */

const actor = { kind: "user" as const, id: "alice" };
function stored(streamId: string, version: number, e: DomainEvent, occurredAt = "2026-12-01T22:15:00.000Z") {
  return {
    ...e,
    streamId,
    version,
    eventId: `e${version}`,
    schemaVersion: 1,
    occurredAt,
    actor,
    correlationId: "c",
    causationId: "c",
  } as StoredEvent;
}
const dispatched = (releaseId: string, runtime: string, rollback = false): DomainEvent => ({
  type: "InstructionDispatched",
  data: {
    instructionId: `shop.staging.${releaseId}.${runtime}`,
    releaseId,
    channel: "staging",
    application: "shop",
    service: "api",
    runtime,
    payload: { kind: "kubernetes", manifests: ["m"] },
    rollback,
  },
});

describe("cursors", () => {
  it("round-trip through base64url", () => {
    const cursor = encodeCursor("history", { before: 42, newer: "r1/api" });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor("history", cursor)).toEqual({ before: 42, newer: "r1/api" });
    expect(decodeCursor("releases", encodeCursor("releases", { before: "rel-1" }))).toEqual({ before: "rel-1" });
  });

  it("refuse a cursor of another list, a tampered one, and anything else", () => {
    const history = encodeCursor("history", { before: 42 });
    expect(decodeCursor("releases", history)).toBeUndefined();
    expect(decodeCursor("history", Buffer.from('{"k":"history","before":-1}').toString("base64url"))).toBeUndefined();
    expect(decodeCursor("events", encodeCursor("events", { after: "not a position" }))).toBeUndefined();
    expect(decodeCursor("history", "not json")).toBeUndefined();
    expect(decodeCursor("history", "a+b/c=")).toBeUndefined();
  });
});

describe("the feed", () => {
  it("positions events by time, then stream, then version, whatever the time's format", () => {
    const a = feedPosition({ occurredAt: "2026-12-01T22:15:00Z", streamId: "release#r1", version: 9 });
    const b = feedPosition({ occurredAt: "2026-12-01T22:15:00.000Z", streamId: "release#r1", version: 10 });
    const c = feedPosition({
      occurredAt: "2026-12-01T23:15:00.500+01:00",
      streamId: "channel#shop/staging",
      version: 1,
    });
    expect(a).toBe("2026-12-01T22:15:00.000Z#release#r1#0000000009");
    expect([c, b, a].sort()).toEqual([a, b, c]);
    expect(hourOf(a)).toBe("2026-12-01T22");
  });

  it("says which application and release an event is about", () => {
    const release = stored("release#r1", 2, {
      type: "PromotionStarted",
      data: { releaseId: "r1", channel: "staging" },
    });
    expect(feedEntry(release, "shop")).toMatchObject({ application: "shop", releaseId: "r1" });
    const channel = stored("channel#shop/staging", 1, dispatched("r1", "k8s"));
    expect(applicationOf(channel)).toBe("shop");
    const service = stored("config", 3, {
      type: "ConfigApplied",
      data: { kind: "service", name: "api", version: 1, spec: { application: "shop" } },
    });
    expect(applicationOf(service)).toBe("shop");
    const runtime = stored("runtime#k8s", 1, {
      type: "RuntimeLinked",
      data: { runtime: "k8s", connectionId: "c1", agentVersion: "1.0.0" },
    });
    expect(feedEntry(runtime)).not.toHaveProperty("application");
    expect(feedEntry(runtime)).not.toHaveProperty("releaseId");
  });

  it("leaves credential hashes out, and members too large to stream", () => {
    const issued = stored("apikeys", 1, {
      type: "ApiKeyIssued",
      data: { keyId: "k1", name: "ci", scopes: ["release"], keyHash: "a".repeat(64) },
    });
    expect(feedData(issued)).toEqual({ keyId: "k1", name: "ci", scopes: ["release"] });
    const big = stored("channel#shop/staging", 1, {
      type: "InstructionDispatched",
      data: {
        ...(dispatched("r1", "k8s").data as object),
        payload: { kind: "kubernetes", manifests: ["x".repeat(20_000)] },
      },
    } as DomainEvent);
    const data = feedData(big) as Record<string, unknown>;
    expect(data.payload).toEqual({ omitted: true, bytes: expect.any(Number) as number });
    expect(data.instructionId).toBe("shop.staging.r1.k8s");
  });

  it("filters by application, release and types together", () => {
    const entry = feedEntry(stored("channel#shop/staging", 1, dispatched("r1", "k8s")));
    expect(inFeed(entry, {})).toBe(true);
    expect(
      inFeed(entry, { application: "shop", releaseId: "r1", types: ["InstructionDispatched", "ApplyFailed"] }),
    ).toBe(true);
    expect(inFeed(entry, { application: "shop", releaseId: "r2" })).toBe(false);
    expect(inFeed(entry, { application: "web" })).toBe(false);
    expect(inFeed(entry, { types: ["ApplyFailed"] })).toBe(false);
  });

  it("counts a rollback as about both releases: the one rolled back to and the one rolled back from", () => {
    const rollback = stored("channel#shop/production", 7, {
      type: "ReleaseRolledBack",
      data: { application: "shop", channel: "production", service: "api", toReleaseId: "r1", fromReleaseId: "r2" },
    });
    expect(releasesOf(rollback)).toEqual(["r1", "r2"]);
    const entry = feedEntry(rollback);
    expect(entry.releaseId).toBe("r1");
    expect(inFeed(entry, { releaseId: "r1" })).toBe(true);
    expect(inFeed(entry, { releaseId: "r2" })).toBe(true);
    expect(inFeed(entry, { releaseId: "r3" })).toBe(false);
    expect(releasesOf(stored("channel#shop/staging", 1, dispatched("r1", "k8s")))).toEqual(["r1"]);
  });
});

describe("channel history", () => {
  /** The entries of events read newest first, in pages of `size`, carrying `newer` over as the cursor does. */
  function read(events: StoredEvent[], size: number): ChannelHistoryEntry[] {
    const newestFirst = [...events].reverse();
    const out: ChannelHistoryEntry[] = [];
    let newer: string | undefined;
    for (let i = 0; i < newestFirst.length; i += size) {
      for (const e of newestFirst.slice(i, i + size)) {
        const entry = historyEntry(e, newer);
        newer = dispatchOf(e);
        if (entry) out.push(entry);
      }
    }
    return out;
  }
  const stream = "channel#shop/staging";
  const events = [
    stored(stream, 1, dispatched("r1", "a")),
    stored(stream, 2, dispatched("r1", "b")),
    stored(stream, 3, {
      type: "ApplyFailed",
      data: { instructionId: "shop.staging.r1.a", runtime: "a", releaseId: "r1", message: "boom" },
    }),
    stored(stream, 4, {
      type: "ReleaseRolledBack",
      data: {
        application: "shop",
        channel: "staging",
        service: "api",
        fromReleaseId: "r1",
        toReleaseId: "r0",
        reason: "boom",
      },
    }),
    stored(stream, 5, dispatched("r0", "a", true)),
    stored(stream, 6, dispatched("r0", "b", true)),
    stored(stream, 7, { type: "ChannelPaused", data: { application: "shop", channel: "staging", reason: "look" } }),
  ];

  it("shows one dispatch to many runtimes once, and a rollback as its ReleaseRolledBack", () => {
    expect(read(events, 100).map((h) => [h.kind, h.releaseId, h.fromReleaseId, h.reason ?? h.message])).toEqual([
      ["paused", undefined, undefined, "look"],
      ["rolledBack", "r0", "r1", "boom"],
      ["failed", "r1", undefined, "a: boom"],
      ["dispatched", "r1", undefined, undefined],
    ]);
  });

  it("gives the same entries however the stream is split into pages", () => {
    for (const size of [1, 2, 3]) expect(read(events, size)).toEqual(read(events, 100));
  });
});

describe("time travel", () => {
  const at = (t: string) => ({ occurredAt: t });

  it("keeps a stream's events up to the first that occurred after the instant", () => {
    const events = [at("2026-12-01T10:00:00Z"), at("2026-12-01T10:05:00Z"), at("2026-12-01T10:01:00Z")];
    expect(recordedBy(events, new Date("2026-12-01T10:02:00Z"))).toEqual([events[0]]);
    expect(recordedBy(events, new Date("2026-12-01T10:05:00Z"))).toEqual(events);
    expect(recordedBy(events, new Date("2026-12-01T09:00:00Z"))).toEqual([]);
  });

  it("judges a release waiting where it entered, is still in the running, and has no instruction yet", () => {
    const release = fold(releaseDecider, [
      {
        type: "ReleaseCreated",
        data: {
          releaseId: "r1",
          application: "shop",
          service: "api",
          params: {},
          source: {},
          channels: ["staging", "production"],
          configVersions: { application: 1, service: 1 },
        },
      },
      { type: "PromotionStarted", data: { releaseId: "r1", channel: "staging" } },
      {
        type: "PreconditionBlocked",
        data: { releaseId: "r1", channel: "staging", precondition: "deployWindow", reason: "outside the window" },
      },
    ]);
    const empty = channelDecider.initialState();
    expect(waitsIn(release, "staging", empty)).toEqual(["outside the window"]);
    expect(waitsIn(release, "production", empty)).toBeUndefined();
    const instructed = fold(channelDecider, [dispatched("r1", "k8s")]);
    expect(waitsIn(release, "staging", instructed)).toBeUndefined();
    const abandoned = releaseDecider.evolve(release, { type: "ReleaseAbandoned", data: { releaseId: "r1" } });
    expect(waitsIn(abandoned, "staging", empty)).toBeUndefined();
  });
});
