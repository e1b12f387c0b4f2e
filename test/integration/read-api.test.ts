import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import type { StreamEvent, StreamImage } from "../../functions/adapters/lambda-events.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { createProjector } from "../../functions/projector.js";
import { FEED_SETTLE_MS, listEvents } from "../../functions/services/feed.js";
import { isolatedEventStore, isolatedTable } from "../support/dynamo.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * The read API on the local stack: the release list, applications, time travel, channel history
 * and the event feed, as JSON and as server-sent events.
 */

let p: Pipeline;
type Summary = { releaseId: string; channels: { name: string; state: string; waiting?: string[] }[] };
type Page<T> = { items: T[]; nextCursor?: string };
type FeedEvent = { cursor: string; type: string; releaseId?: string; application?: string; streamId: string };
type History = { kind: string; releaseId?: string; fromReleaseId?: string; approvedBy?: string[]; reason?: string };

const approval = { production: { preconditions: [{ manualApproval: {} }] } };
const ids: Record<string, string> = {};
/** Instants around the first production deploy of `lists`. */
const instants: Record<string, string> = {};

beforeAll(async () => {
  p = await openPipeline("readapi");
  await p.application("lists", approval);
  await p.application("other", approval);

  ids.r1 = await p.release("lists", "1.0.0", { author: "alice" });
  await eventually(async () => (await p.releaseEvents(ids.r1!)).some((e) => e.type === "ApprovalRequested"));
  await tick();
  instants.beforeDeploy = new Date().toISOString();
  await tick();
  await approve(ids.r1);
  await eventually(() => p.convergedOn("lists", "production", ids.r1!));
  await tick();
  instants.afterDeploy = new Date().toISOString();
  await tick();

  ids.o1 = await p.release("other", "1.0.0");
  ids.r2 = await p.release("lists", "2.0.0", { author: "bob" });
  await eventually(async () => (await p.releaseEvents(ids.r2!)).some((e) => e.type === "ApprovalRequested"));
  await eventually(() => p.convergedOn("other", "staging", ids.o1!));
  // Staging goes back to r1 (r2 is rolled back from), and is paused and resumed.
  const rollback = await p.api("/v1/applications/lists/channels/staging/rollback", {
    method: "POST",
    body: { service: "lists-api", releaseId: ids.r1, reason: "errors after 2.0.0" },
  });
  expect(rollback.status).toBe(200);
  await eventually(() => p.convergedOn("lists", "staging", ids.r1!, 2));
  await p.api("/v1/applications/lists/channels/staging/pause", { method: "POST", body: { reason: "investigating" } });
  await p.api("/v1/applications/lists/channels/staging/resume", { method: "POST" });
}, 120_000);
afterAll(async () => {
  await p?.close();
});

/** A few milliseconds, so the instants taken around a step differ from the events' times. */
const tick = () => new Promise((r) => setTimeout(r, 5));

async function approve(releaseId: string | undefined): Promise<void> {
  const res = await p.api(`/v1/releases/${releaseId}/channels/production/approvals`, {
    method: "POST",
    body: { decision: "approve" },
  });
  expect(res.status).toBe(200);
}

async function get<T>(path: string): Promise<T> {
  const res = await p.api(path);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as T;
}

/** Every item of a paged list, following nextCursor (through `param`) until there is none. */
async function all<T>(path: string, param = "cursor"): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get<Page<T>>(cursor ? `${path}${sep}${param}=${cursor}` : path);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 50);
  return { items, pages };
}

const stateIn = (s: Summary | undefined, channel: string) => s?.channels.find((c) => c.name === channel)?.state;

describe("GET /v1/releases", () => {
  it("lists an application's releases newest first, with their state in every channel", async () => {
    await eventually(async () => {
      const { items } = await get<Page<Summary>>("/v1/releases?application=lists");
      return stateIn(items[1], "staging") === "converged" && stateIn(items[0], "staging") === "rolledBack";
    });
    const { items, nextCursor } = await get<Page<Summary>>("/v1/releases?application=lists");
    expect(nextCursor).toBeUndefined();
    expect(items.map((s) => s.releaseId)).toEqual([ids.r2, ids.r1]);
    expect(items[0]).toMatchObject({
      application: "lists",
      service: "lists-api",
      author: "bob",
      cause: "ci",
      status: "active",
      params: { image: "registry.example.com/lists/api:2.0.0" },
    });
    expect(items[0]!.channels).toEqual([
      { name: "staging", state: "rolledBack" },
      { name: "production", state: "waiting", waiting: [expect.stringContaining("approval") as string] },
    ]);
    expect(items[1]!.channels).toEqual([
      { name: "staging", state: "converged" },
      { name: "production", state: "converged" },
    ]);
  });

  it("combines filters", async () => {
    const ids_ = async (query: string) =>
      (await get<Page<Summary>>(`/v1/releases?${query}`)).items.map((s) => s.releaseId);
    expect(await ids_("application=lists&channel=production&state=waiting")).toEqual([ids.r2]);
    expect(await ids_("application=lists&state=rolledBack&author=bob")).toEqual([ids.r2]);
    expect(await ids_("application=lists&state=rolledBack&author=alice")).toEqual([]);
    expect(await ids_("service=lists-api&channel=production&state=converged")).toEqual([ids.r1]);
    expect(await ids_("state=waiting")).toEqual([ids.r2, ids.o1]);
    const r2 = (await get<Page<Summary & { createdAt: string }>>("/v1/releases?application=lists")).items[0]!;
    expect(await ids_(`application=lists&since=${encodeURIComponent(r2.createdAt)}`)).toEqual([ids.r2]);
  });

  it("pages through one application and across applications, newest first", async () => {
    const one = await all<Summary>("/v1/releases?application=lists&limit=1");
    expect(one.items.map((s) => s.releaseId)).toEqual([ids.r2, ids.r1]);
    expect(one.pages).toBeGreaterThanOrEqual(2);
    const across = await all<Summary>("/v1/releases?limit=1");
    expect(across.items.map((s) => s.releaseId)).toEqual([ids.r2, ids.o1, ids.r1]);
    const filtered = await all<Summary>("/v1/releases?limit=1&state=converged&channel=staging");
    expect(filtered.items.map((s) => s.releaseId)).toEqual([ids.o1, ids.r1]);
  });
});

describe("GET /v1/applications", () => {
  it("lists the applications with their channels and services", async () => {
    const { items } =
      await get<Page<{ name: string; channels: string[]; services: string[]; version: number }>>("/v1/applications");
    expect(items.find((a) => a.name === "lists")).toEqual({
      name: "lists",
      version: 1,
      channels: ["staging", "production"],
      services: ["lists-api"],
    });
    expect(items.map((a) => a.name)).toEqual(["lists", "other"]);
  });
});

describe("GET /v1/applications/{app}?asOf", () => {
  type View = {
    version: number;
    channels: {
      name: string;
      services: Record<string, { state: string; convergedReleaseId?: string }>;
      waiting: { releaseId: string; reasons: string[] }[];
    }[];
  };

  it("shows the view as it was before a deploy and after it", async () => {
    const before = await get<View>(`/v1/applications/lists?asOf=${encodeURIComponent(instants.beforeDeploy!)}`);
    expect(before.channels[0]!.services["lists-api"]).toMatchObject({ state: "converged", convergedReleaseId: ids.r1 });
    expect(before.channels[1]!.services).toEqual({});
    expect(before.channels[1]!.waiting).toEqual([
      { releaseId: ids.r1, reasons: [expect.stringContaining("approval") as string] },
    ]);

    const after = await get<View>(`/v1/applications/lists?asOf=${encodeURIComponent(instants.afterDeploy!)}`);
    expect(after.channels[1]!.services["lists-api"]).toMatchObject({ state: "converged", convergedReleaseId: ids.r1 });
    expect(after.channels[1]!.waiting).toEqual([]);
  });

  it("rebuilds today's view with the projector's own view code", async () => {
    const now = new Date(Date.now() + 60_000).toISOString();
    await eventually(async () => {
      const today = await get<View>("/v1/applications/lists");
      const rebuilt = await get<View>(`/v1/applications/lists?asOf=${encodeURIComponent(now)}`);
      return (
        JSON.stringify(today.channels.map((c) => c.services)) ===
        JSON.stringify(rebuilt.channels.map((c) => c.services))
      );
    });
  });

  it("answers 404 for an application that did not exist yet", async () => {
    const res = await p.api("/v1/applications/lists?asOf=2020-01-01T00:00:00Z");
    expect(res).toMatchObject({ status: 404, body: { code: "application.not_found" } });
  });
});

describe("GET /v1/applications/{app}/channels/{channel}/history", () => {
  it("tells a channel's history newest first, one entry per dispatch", async () => {
    const { items } = await get<Page<History>>("/v1/applications/lists/channels/staging/history");
    expect(items.map((h) => [h.kind, h.releaseId])).toEqual([
      ["resumed", undefined],
      ["paused", undefined],
      ["converged", ids.r1],
      ["rolledBack", ids.r1],
      ["converged", ids.r2],
      ["dispatched", ids.r2],
      ["converged", ids.r1],
      ["dispatched", ids.r1],
    ]);
    expect(items[1]).toMatchObject({ reason: "investigating" });
    expect(items[3]).toMatchObject({ fromReleaseId: ids.r2, reason: "errors after 2.0.0" });
  });

  it("says who approved a production dispatch", async () => {
    const { items } = await get<Page<History>>("/v1/applications/lists/channels/production/history");
    const view = await get<{ channels: { approvals: Record<string, { grantedBy: string[] }> }[] }>(
      `/v1/releases/${ids.r1}`,
    );
    const dispatched = items.find((h) => h.kind === "dispatched");
    expect(dispatched).toMatchObject({ releaseId: ids.r1 });
    expect(dispatched!.approvedBy).toEqual(view.channels[1]!.approvals.approval!.grantedBy);
    expect(dispatched!.approvedBy).toHaveLength(1);
  });

  it("pages through the history with the same entries", async () => {
    const whole = await get<Page<History>>("/v1/applications/lists/channels/staging/history");
    const paged = await all<History>("/v1/applications/lists/channels/staging/history?limit=3");
    expect(paged.pages).toBe(3);
    expect(paged.items).toEqual(whole.items);
  });
});

describe("GET /v1/events", () => {
  it("reads the log as a feed, oldest first, filtered and paged", async () => {
    const path = `/v1/events?release=${ids.r1}&type=ChannelConverged&limit=200`;
    await eventually(async () => (await get<Page<FeedEvent>>(path)).items.length === 3);
    const converged = await get<Page<FeedEvent>>(path);
    expect(converged.items.map((e) => e.streamId)).toEqual([
      "channel#lists/staging",
      "channel#lists/production",
      "channel#lists/staging",
    ]);
    expect(converged.items.every((e) => e.releaseId === ids.r1 && e.application === "lists")).toBe(true);

    const r1 = await get<Page<FeedEvent>>(`/v1/events?release=${ids.r1}&limit=200`);
    expect(r1.items[0]).toMatchObject({ type: "ReleaseCreated", streamId: `release#${ids.r1}` });
    expect(r1.items.some((e) => e.type === "ApprovalGranted")).toBe(true);
    const paged = await all<FeedEvent>(`/v1/events?release=${ids.r1}&limit=4`, "after");
    expect(paged.items).toEqual(r1.items);
    expect(paged.pages).toBeGreaterThan(2);

    const other = await get<Page<FeedEvent>>("/v1/events?application=other&type=ReleaseCreated,ChannelConverged");
    expect(other.items.map((e) => e.type)).toEqual(["ReleaseCreated", "ChannelConverged"]);
  });

  it("streams events appended after it connected, and resumes after Last-Event-ID", async () => {
    await p.application("live");
    const query = "application=live&type=ChannelPaused,ChannelResumed";
    const first = await openStream(`/v1/events?${query}`);
    await p.api("/v1/applications/live/channels/staging/pause", { method: "POST", body: { reason: "one" } });
    const paused = await first.next();
    first.close();
    expect(paused.event).toBe("ChannelPaused");
    const asJson = await get<Page<FeedEvent>>(`/v1/events?${query}`);
    expect(JSON.parse(paused.data)).toEqual(asJson.items[0]);
    expect(asJson.items[0]).toMatchObject({ type: "ChannelPaused", application: "live", cursor: paused.id });

    // Disconnected, the client misses a resume; a new stream without Last-Event-ID would start
    // after it, so the resumed stream can only have it from Last-Event-ID.
    await p.api("/v1/applications/live/channels/staging/resume", { method: "POST" });
    let resumedAt = "";
    await eventually(async () => {
      const page = await get<Page<FeedEvent & { occurredAt: string }>>(`/v1/events?${query}&after=${paused.id}`);
      resumedAt = page.items[0]?.occurredAt ?? "";
      return resumedAt !== "" && Date.now() - Date.parse(resumedAt) > FEED_SETTLE_MS + 500;
    });
    const fresh = await get<Page<FeedEvent>>(`/v1/events?${query}&after=${paused.id}`);
    const resumed = await openStream(`/v1/events?${query}`, paused.id);
    const next = await resumed.next();
    resumed.close();
    expect(next.event).toBe("ChannelResumed");
    expect(next.id).toBe(fresh.items[0]!.cursor);
  });
});

describe("bad query values", () => {
  it.each([
    ["/v1/releases?limit=0", "limit"],
    ["/v1/releases?limit=201", "limit"],
    ["/v1/releases?state=sleeping", "state"],
    ["/v1/releases?since=yesterday", "since"],
    ["/v1/releases?cursor=not-a-cursor", "cursor"],
    ["/v1/applications/lists?asOf=tuesday", "asOf"],
    ["/v1/applications/lists/channels/staging/history?limit=abc", "limit"],
    ["/v1/events?type=ReleaseCreated,NoSuchEvent", "type"],
    ["/v1/events?after=bm9wZQ", "after"],
  ])("%s → 400 naming %s", async (path, field) => {
    const res = await p.api(path);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "request.invalid", errors: [{ path: field }] });
  });

  it("refuses a cursor of another list", async () => {
    const page = await get<Page<History>>("/v1/applications/lists/channels/staging/history?limit=1");
    const res = await p.api(`/v1/releases?cursor=${page.nextCursor}`);
    expect(res).toMatchObject({ status: 400, body: { code: "request.invalid", errors: [{ path: "cursor" }] } });
  });

  it("refuses a Last-Event-ID that is no event's id", async () => {
    const res = await fetch(`${p.stack.httpUrl}/v1/events`, {
      headers: {
        authorization: `Bearer ${p.secrets.adminApiKey}`,
        accept: "text/event-stream",
        "last-event-id": "garbage",
      },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "request.invalid", errors: [{ path: "last-event-id" }] });
  });
});

type Sse = { event?: string; id?: string; data: string };

/** An SSE connection that hands over its events one by one; `connected` resolves on the stream's first line. */
async function openStream(path: string, lastEventId?: string) {
  const abort = new AbortController();
  const res = await fetch(`${p.stack.httpUrl}${path}`, {
    headers: {
      authorization: `Bearer ${p.secrets.adminApiKey}`,
      accept: "text/event-stream",
      ...(lastEventId ? { "last-event-id": lastEventId } : {}),
    },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  // The stream's first block is its `retry:` advice: once it is read, the server is following the feed.
  const block = async (): Promise<string> => {
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return text;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffer += value;
    }
  };
  expect(await block()).toMatch(/^retry: \d+$/);
  return {
    async next(): Promise<Sse> {
      for (;;) {
        const lines = (await block()).split("\n");
        if (lines.every((l) => l.startsWith(":"))) continue;
        const field = (name: string) =>
          lines.filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
        return { event: field("event")[0], id: field("id")[0], data: field("data").join("\n") };
      }
    },
    close: () => abort.abort(),
  };
}

describe("the read API's projections", () => {
  it("settle on the same summaries and feed whatever order streams arrive in, and however often", async () => {
    const { store, db, table } = await isolatedEventStore();
    const tables = [
      await isolatedTable("views", readModelTableDefinition),
      await isolatedTable("views", readModelTableDefinition),
    ];
    try {
      const meta = (t: string) => ({
        occurredAt: `2026-11-23T10:00:0${t}.000Z`,
        actor: { kind: "system" as const, id: "test" },
        correlationId: "c",
        causationId: "c",
      });
      const release = (id: string): DomainEvent[] => [
        {
          type: "ReleaseCreated",
          data: {
            releaseId: id,
            application: "shop",
            service: "api",
            params: { image: `registry.example.com/shop/api:${id}` },
            source: {},
            channels: ["staging", "production"],
            configVersions: { application: 1, service: 1 },
          },
        },
        { type: "PromotionStarted", data: { releaseId: id, channel: "staging" } },
      ];
      const dispatch = (id: string): DomainEvent => ({
        type: "InstructionDispatched",
        data: {
          instructionId: `shop.staging.${id}.k8s`,
          releaseId: id,
          channel: "staging",
          application: "shop",
          service: "api",
          runtime: "k8s",
          payload: { kind: "kubernetes", manifests: ["m"] },
          rollback: false,
        },
      });
      const converged: DomainEvent = {
        type: "ChannelConverged",
        data: {
          releaseId: "rel-1",
          channel: "staging",
          application: "shop",
          service: "api",
          convergedAt: "2026-11-23T10:00:03Z",
        },
      };
      await store.append(streams.release("rel-1"), 0, release("rel-1"), meta("1"));
      await store.append(streams.release("rel-2"), 0, release("rel-2"), meta("4"));
      const channel = streams.channel("shop", "staging");
      await store.append(channel, 0, [dispatch("rel-1")], meta("2"));
      await store.append(channel, 1, [converged], meta("3"));
      await store.append(channel, 2, [dispatch("rel-2")], meta("5"));

      const records = async (streamId: string): Promise<StreamEvent["Records"]> => {
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
      };
      const [r1, r2, ch] = [await records("release#rel-1"), await records("release#rel-2"), await records(channel)];
      const [inOrder, shuffled] = tables.map((t) => new ReadModels(db, t.name));
      await createProjector({ store, readModels: inOrder! })({ Records: [...r1, ...r2, ...ch] });
      // Channel first, release streams after, then all of it redelivered by a projector with nothing cached.
      const projector = createProjector({ store, readModels: shuffled! });
      await projector({ Records: ch });
      await projector({ Records: [...r2, ...r1] });
      await createProjector({ store, readModels: shuffled! })({ Records: [...ch, ...r1, ...r2] });

      const summaries = async (m: ReadModels) => (await m.releases.page("shop", {}, 10)).items;
      const feed = async (m: ReadModels) => (await listEvents({ readModels: m }, { filter: {}, limit: 200 })).items;
      expect(await summaries(shuffled!)).toEqual(await summaries(inOrder!));
      expect((await summaries(inOrder!)).map((s) => [s.releaseId, s.deployments])).toEqual([
        ["rel-2", { staging: "deploying" }],
        ["rel-1", { staging: "replaced" }],
      ]);
      expect(await feed(shuffled!)).toEqual(await feed(inOrder!));
      expect((await feed(inOrder!)).map((e) => `${e.streamId}@${e.version}`)).toEqual([
        "release#rel-1@1",
        "release#rel-1@2",
        `${channel}@1`,
        `${channel}@2`,
        "release#rel-2@1",
        "release#rel-2@2",
        `${channel}@3`,
      ]);
    } finally {
      await Promise.all([table.drop(), ...tables.map((t) => t.drop())]);
    }
  });
});
