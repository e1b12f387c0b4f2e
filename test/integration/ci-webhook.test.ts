import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { EventStore } from "../../functions/adapters/event-store.js";
import { createHttpApp } from "../../functions/http.js";
import { signBody, signWebhook } from "../../functions/services/credentials.js";
import type { ApiDeps } from "../../functions/services/deps.js";
import { isolatedApiStorage } from "../support/dynamo.js";
import { docs } from "../support/fixtures.js";
import { capturedLogs } from "../support/logs.js";

/**
 * The CI webhook's signature covers `<timestamp>.<body>`, is fresh for five minutes and good for one
 * delivery; a delivery id is good for one body. Each refusal appends nothing. The server's clock is
 * the deps' `now`, fixed; a test signs at a moment relative to it.
 */

const secrets = {
  adminApiKey: "admin-key-for-webhook-tests-0123",
  webhookSecret: "webhook-secret-for-webhook-tests",
  slackSigningSecret: "slack-secret",
};
const admin = { authorization: `Bearer ${secrets.adminApiKey}` };
const clock = new Date("2030-01-01T12:00:00Z");
let store: EventStore;
let db: Awaited<ReturnType<typeof isolatedApiStorage>>["db"];
let drop: () => Promise<void>;
let app: ReturnType<typeof createHttpApp>;
const logs = capturedLogs();

beforeAll(async () => {
  const storage = await isolatedApiStorage();
  ({ store, db, drop } = storage);
  const deps: ApiDeps = {
    store,
    readModels: storage.readModels,
    secretStore: storage.secretStore,
    secrets,
    checks: {},
    logger: logs.logger,
    now: () => clock,
  };
  app = createHttpApp(deps);
  const config = [docs.staging, docs.production, docs.shop, docs.api].map((d) => stringify(d)).join("---\n");
  const put = await app.request("/v1/configs", {
    method: "PUT",
    body: config,
    headers: { "content-type": "application/yaml", ...admin },
  });
  expect(put.status).toBe(200);
});
afterAll(() => drop());

let builds = 0;
/** The body of a new build: every call a different one. */
const newBuild = () =>
  JSON.stringify({
    application: "shop",
    service: "api",
    params: { image: `registry.example.com/shop/api:1.0.${++builds}` },
  });
const seconds = (at: Date) => String(Math.floor(at.getTime() / 1000));

type Sent = {
  body: string;
  timestamp?: string;
  signature?: string;
  delivery?: string;
  headers?: Record<string, string>;
};
/** Signs `body` at the server's clock (or `timestamp`) unless a signature is given. */
function signed(body: string, options: Partial<Omit<Sent, "body">> = {}): Sent {
  const timestamp = options.timestamp ?? seconds(clock);
  return { body, timestamp, signature: signWebhook(secrets.webhookSecret, timestamp, body), ...options };
}
const signatures = new Set<string>();
function send({ body, timestamp, signature, delivery, headers = {} }: Sent): Promise<Response> {
  if (signature) signatures.add(signature.slice("sha256=".length));
  return Promise.resolve(
    app.request("/v1/webhooks/ci", {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        ...(timestamp !== undefined ? { "x-slipway-timestamp": timestamp } : {}),
        ...(signature !== undefined ? { "x-slipway-signature-256": signature } : {}),
        ...(delivery !== undefined ? { "x-slipway-delivery": delivery } : {}),
        ...headers,
      },
    }),
  );
}
async function problemOf(res: Response) {
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  return (await res.json()) as { status: number; code: string; detail: string };
}
async function accepted(res: Response) {
  expect(res.status).toBe(202);
  return (await res.json()) as { releaseId: string; duplicate: boolean };
}

/** Every event in the log (items at version ≥ 1): a refused request must leave this as it was. */
async function logItems(): Promise<string[]> {
  const keys: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: store.tableName,
        FilterExpression: "#v > :zero",
        ExpressionAttributeNames: { "#v": "version" },
        ExpressionAttributeValues: { ":zero": 0 },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) keys.push(`${String(item.stream)}@${String(item.version)}`);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return keys.sort();
}

describe("CI webhook signatures", () => {
  it("accepts a signature over `<timestamp>.<body>` made up to five minutes either side of the server's clock", async () => {
    for (const offset of [-300, 0, 300]) {
      const at = new Date(clock.getTime() + offset * 1000);
      const { duplicate } = await accepted(await send(signed(newBuild(), { timestamp: seconds(at) })));
      expect(duplicate).toBe(false);
    }
  });

  it("refuses a stale or future timestamp with 401 webhook.stale, appending nothing", async () => {
    const before = await logItems();
    for (const offset of [-301, -3600, 301]) {
      const at = new Date(clock.getTime() + offset * 1000);
      const res = await send(signed(newBuild(), { timestamp: seconds(at), delivery: `stale${offset}` }));
      expect(res.status).toBe(401);
      const problem = await problemOf(res);
      expect(problem.code).toBe("webhook.stale");
      expect(problem.detail).toContain("five minutes");
    }
    expect(await logItems()).toEqual(before);
  });

  it("refuses a missing or non-integer timestamp with 401 and a sentence saying what to send", async () => {
    const before = await logItems();
    const body = newBuild();
    const missing = await send({ body, signature: signBody(secrets.webhookSecret, body) });
    expect(missing.status).toBe(401);
    expect(await problemOf(missing)).toMatchObject({
      code: "webhook.bad_timestamp",
      detail: expect.stringContaining("X-Slipway-Timestamp is required") as unknown,
    });
    for (const timestamp of [`${seconds(clock)}.5`, "soon", "-1700000000", `${clock.getTime()}000`]) {
      const res = await send(signed(body, { timestamp }));
      expect(res.status).toBe(401);
      expect((await problemOf(res)).code).toMatch(/^webhook\.(bad_timestamp|stale)$/);
    }
    expect(await logItems()).toEqual(before);
  });

  it("refuses the old scheme, a signature over the body alone, with 401", async () => {
    const before = await logItems();
    const body = newBuild();
    const res = await send({ body, timestamp: seconds(clock), signature: signBody(secrets.webhookSecret, body) });
    expect(res.status).toBe(401);
    const problem = await problemOf(res);
    expect(problem.code).toBe("webhook.bad_signature");
    expect(problem.detail).toContain("<X-Slipway-Timestamp>.<raw body>");
    // A timestamp that was not the one signed is as bad.
    const later = signed(body);
    const moved = await send({ ...later, timestamp: String(Number(later.timestamp) + 1) });
    expect((await problemOf(moved)).code).toBe("webhook.bad_signature");
    expect(await logItems()).toEqual(before);
  });

  it("takes a signature presented again with the same delivery id as a redelivery", async () => {
    const request = signed(newBuild(), { delivery: "build-redelivered" });
    const first = await accepted(await send(request));
    const before = await logItems();
    const again = await accepted(await send(request));
    expect(again).toEqual({ releaseId: first.releaseId, duplicate: true });
    expect(await logItems()).toEqual(before);
  });

  it("refuses a replay, the signature with another delivery id or none, with 409 webhook.replayed and appends nothing", async () => {
    const request = signed(newBuild(), { delivery: "build-original" });
    const first = await accepted(await send(request));
    const before = await logItems();
    for (const delivery of ["build-forged", undefined]) {
      const replay = await send({ ...request, delivery });
      expect(replay.status).toBe(409);
      const problem = await problemOf(replay);
      expect(problem.code).toBe("webhook.replayed");
      expect(JSON.stringify(problem)).not.toContain(request.signature!.slice("sha256=".length));
    }
    expect(await logItems()).toEqual(before);
    // The original delivery still gets its release back.
    expect(await accepted(await send(request))).toEqual({ releaseId: first.releaseId, duplicate: true });
  });

  it("refuses a signature accepted without a delivery id when it comes again", async () => {
    const request = signed(newBuild());
    await accepted(await send(request));
    const before = await logItems();
    const replay = await send(request);
    expect(replay.status).toBe(409);
    expect((await problemOf(replay)).code).toBe("webhook.replayed");
    expect(await logItems()).toEqual(before);
  });

  it("returns the same release for the same delivery id and body signed anew, and spends that signature too", async () => {
    const body = newBuild();
    const first = await accepted(await send(signed(body, { delivery: "build-resigned" })));
    const before = await logItems();
    const resigned = signed(body, {
      delivery: "build-resigned",
      timestamp: seconds(new Date(clock.getTime() + 60_000)),
    });
    expect(await accepted(await send(resigned))).toEqual({ releaseId: first.releaseId, duplicate: true });
    // The same content with keys in another order and other whitespace is the same body.
    const reordered = JSON.stringify(JSON.parse(body), ["service", "params", "image", "application"], 2);
    expect(await accepted(await send(signed(reordered, { delivery: "build-resigned" })))).toEqual({
      releaseId: first.releaseId,
      duplicate: true,
    });
    const replay = await send({ ...resigned, delivery: "build-stolen" });
    expect((await problemOf(replay)).code).toBe("webhook.replayed");
    expect(await logItems()).toEqual(before);
  });

  it("refuses the same delivery id with a different body: 409 delivery.conflict, appending nothing", async () => {
    const body = newBuild();
    const first = await accepted(await send(signed(body, { delivery: "build-conflicted" })));
    const before = await logItems();
    const other = await send(signed(newBuild(), { delivery: "build-conflicted" }));
    expect(other.status).toBe(409);
    const problem = await problemOf(other);
    expect(problem.code).toBe("delivery.conflict");
    expect(problem.detail).toContain('"build-conflicted"');
    // The same holds for a release-scoped key instead of a signature.
    const keyed = await send({ body: newBuild(), delivery: "build-conflicted", headers: admin });
    expect((await problemOf(keyed)).code).toBe("delivery.conflict");
    expect(await logItems()).toEqual(before);
    // What the id was first used for still comes back.
    const original = await send({ body, delivery: "build-conflicted", headers: admin });
    expect(await accepted(original)).toEqual({ releaseId: first.releaseId, duplicate: true });
  });

  it("makes one release of identical requests that race, and lets one of a racing replay through", async () => {
    for (let round = 0; round < 5; round++) {
      const before = await logItems();
      const request = signed(newBuild(), { delivery: `build-race-${round}` });
      const answers = await Promise.all(Array.from({ length: 4 }, () => send(request).then(accepted)));
      expect(new Set(answers.map((a) => a.releaseId)).size).toBe(1);
      expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
      // One release: ReleaseCreated and PromotionStarted.
      expect((await logItems()).length - before.length).toBe(2);

      const stolen = signed(newBuild(), { delivery: `build-race-${round}-a` });
      const contest = await Promise.all(
        ["a", "b", "c"].map((d) => send({ ...stolen, delivery: `build-race-${round}-${d}` })),
      );
      expect(contest.map((r) => r.status).sort()).toEqual([202, 409, 409]);
      for (const r of contest.filter((r) => r.status === 409))
        expect((await problemOf(r)).code).toBe("webhook.replayed");

      const conflicting = await Promise.all(
        [newBuild(), newBuild()].map((body) => send(signed(body, { delivery: `build-race-${round}-conflict` }))),
      );
      expect(conflicting.map((r) => r.status).sort()).toEqual([202, 409]);
      const refused = conflicting.find((r) => r.status === 409)!;
      expect((await problemOf(refused)).code).toBe("delivery.conflict");
      expect((await logItems()).length - before.length).toBe(6);
    }
  });

  it("never logs the secret or a signature it was sent", () => {
    const text = logs.lines.join("\n");
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(text).not.toContain(secrets.webhookSecret);
    expect(signatures.size).toBeGreaterThan(10);
    for (const signature of signatures) expect(text).not.toContain(signature);
  });
});
