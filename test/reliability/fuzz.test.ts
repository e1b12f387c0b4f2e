import { randomUUID } from "node:crypto";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slackSignature } from "../../functions/services/credentials.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { FakeAgent } from "../support/fake-agent.js";
import { capturedLogs } from "../support/logs.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";
import { record, scale } from "./figures.js";
import { apiRoutes, concrete } from "./stack.js";

/**
 * Property-based input to every entry point — each HTTP route (as an admin, so input reaches
 * validation), the Slack callback (correctly signed), an authenticated agent's WebSocket, and both
 * queues — asserting no 5xx, no handler that threw, a refused request that wrote nothing (no event
 * carries its request id), and a stack that still takes a release all the way through afterwards.
 */

const HTTP_CASES = scale(400, 8000);
const WS_CASES = scale(150, 1500);
const SQS_CASES = scale(50, 500);

const logs = capturedLogs();
let p: Pipeline;
beforeAll(async () => {
  p = await openPipeline("fuzz", { logger: logs.logger });
  await p.application("fuzzed");
}, 120_000);
afterAll(() => p?.close());

/** Values shaped a little like what the API reads, so some get past the first check. */
const names = fc.oneof(
  fc.constantFrom("fuzzed", "fuzzed-api", "staging", "production", "k8s-staging", "constructor", "__proto__", ""),
  fc.string({ maxLength: 70 }),
);
const shaped = fc.record(
  {
    application: names,
    service: names,
    channel: names,
    approval: names,
    decision: fc.constantFrom("approve", "reject", "maybe"),
    params: fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), fc.integer(), fc.jsonValue())),
    reason: fc.string({ maxLength: 1200 }),
    until: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
    ),
    name: names,
    scopes: fc.array(fc.constantFrom("admin", "read", "release", "approve", "root")),
    value: fc.string({ maxLength: 50 }),
    releaseId: names,
    rollback: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  shaped.map((v) => JSON.stringify(v)),
  fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 300 }),
  fc.constantFrom("", "{", "[]", "null", '{"__proto__": {"polluted": 1}}', "a: [[[[[", "- - - - x", "<<: *x"),
  // Deep nesting, which once took the server down.
  fc
    .tuple(fc.constantFrom("[", "{a: ", "- ", '{"a":'), fc.integer({ min: 100, max: 40_000 }))
    .map(([open, n]) => open.repeat(n)),
);

/** Which items of the log carry one of these request ids as their correlation id. */
async function eventsCorrelatedWith(ids: ReadonlySet<string>): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint: p.stack.dynamoEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const found: string[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: p.stack.tables.events, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const id = item.correlationId?.S;
      if (id && ids.has(id)) found.push(`${item.stream?.S} v${item.version?.N} ${item.type?.S}`);
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  client.destroy();
  return found;
}

/** A fresh agent token for a runtime. */
async function relink(runtime: string): Promise<string> {
  const res = await p.api(`/v1/runtimes/${runtime}/link`, { method: "POST" });
  expect(res.status).toBe(200);
  return res.body.token as string;
}

/** What the stand-ins reported of handlers that threw or timed out. */
const handlerFailures = () =>
  logs
    .entries()
    .filter((e) => /failed|timed out|threw/.test(e.message) && e.level !== "debug")
    .map((e) => e.message);

describe("fuzzing every entry point", () => {
  it("answers every HTTP request below 500, and a refused one writes nothing", async () => {
    const routes = apiRoutes().filter((r) => r.access !== "public");
    const refused = new Set<string>();
    const serverErrors: string[] = [];
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(routes.length - 1), names, body, async (i, param, text) => {
        const route = routes[i]!;
        const requestId = `fuzz-${randomUUID()}`;
        // The dashboard's live stream lasts until something changes: its filter and resume point are fuzzed.
        const live = route.path === "/ui/live";
        const path = live
          ? `/ui/live?application=${encodeURIComponent(param)}&release=${encodeURIComponent(text.slice(0, 64))}`
          : concrete(route.path, param || "x");
        const headers: Record<string, string> = { "x-request-id": requestId };
        if (live) headers["last-event-id"] = param.replace(/[^\x20-\x7e]/g, "");
        let payload: string | undefined = route.method === "GET" || route.method === "DELETE" ? undefined : text;
        if (route.access === "slack") {
          payload = new URLSearchParams({ payload: text }).toString();
          const ts = String(Math.floor(Date.now() / 1000));
          Object.assign(headers, {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": slackSignature(p.secrets.slackSigningSecret, ts, payload),
          });
        } else {
          headers["content-type"] = i % 3 === 0 ? "application/yaml" : "application/json";
          headers.authorization = `Bearer ${route.access === "agent" ? p.tokens["k8s-staging"] : p.secrets.adminApiKey}`;
        }
        cases++;
        const res = await fetch(`${p.stack.httpUrl}${path}`, {
          method: route.method,
          headers,
          ...(payload === undefined ? {} : { body: payload }),
        });
        const answer = live ? (await res.body?.cancel(), "") : await res.text();
        if (res.status >= 500) serverErrors.push(`${route.method} ${path} ${res.status} ${answer.slice(0, 200)}`);
        if (res.status >= 400) refused.add(requestId);
        return res.status < 500;
      }),
      { numRuns: HTTP_CASES },
    );
    const written = await eventsCorrelatedWith(refused);
    record("fuzz-http", { cases, refusals: refused.size, serverErrors: serverErrors.length, lost: written.length });
    expect(serverErrors).toEqual([]);
    expect(written).toEqual([]);
    expect(handlerFailures()).toEqual([]);
  });

  it("survives any message from an authenticated agent", async () => {
    // The fuzzing connection takes staging's lease from the fake agent, which comes back afterwards.
    // (Fuzzing the link route may have rotated the runtimes' tokens: link afresh.)
    await p.staging.close();
    const ws = new WebSocket(`${p.stack.wsUrl}?runtime=k8s-staging`, {
      headers: { authorization: `Bearer ${await relink("k8s-staging")}`, "x-slipway-agent-version": "1.0.0" },
    });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const answers: string[] = [];
    ws.on("message", (d) => answers.push(d.toString()));
    const message = fc.oneof(
      fc
        .record(
          {
            action: fc.constantFrom("ack", "report", "state", "heartbeat", "nope", "$default"),
            instructionId: fc.oneof(names, fc.constant("fuzzed.staging.rel-x.k8s-staging")),
            status: fc.constantFrom("succeeded", "failed", "started", "weird"),
            leaseGeneration: fc.oneof(fc.integer(), fc.jsonValue()),
            services: fc.jsonValue({ maxDepth: 4 }),
            message: fc.string({ maxLength: 5000 }),
          },
          { requiredKeys: ["action"] },
        )
        .map((m) => JSON.stringify(m)),
      fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
    );
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        if (ws.readyState !== WebSocket.OPEN) return true;
        cases++;
        ws.send(m);
        await new Promise((r) => setTimeout(r, 2));
        return true;
      }),
      { numRuns: WS_CASES },
    );
    await new Promise((r) => setTimeout(r, 500));
    ws.close();
    record("fuzz-ws", { cases, refusals: answers.filter((a) => a.includes('"error"')).length });
    expect(handlerFailures()).toEqual([]);
  });

  it("survives any message on its queues", async () => {
    const sqs = new SQSClient({ endpoint: p.stack.sqsEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    const bodies = fc.sample(
      fc.oneof(
        fc
          .record(
            {
              kind: fc.constantFrom("evaluate", "resume", "other"),
              releaseId: names,
              application: names,
              channel: names,
              at: fc.oneof(
                fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
                fc.string(),
              ),
              attempt: fc.oneof(fc.integer(), fc.jsonValue()),
              target: fc.jsonValue({ maxDepth: 3 }),
              notification: fc.jsonValue({ maxDepth: 3 }),
            },
            { requiredKeys: [] },
          )
          .map((m) => JSON.stringify(m)),
        fc.string({ minLength: 1, maxLength: 200 }),
      ),
      SQS_CASES,
    );
    for (const queue of [p.stack.queues.preconditions, p.stack.queues.notifications])
      for (let i = 0; i < bodies.length; i += 10)
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queue,
            Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })),
          }),
        );
    sqs.destroy();
    // Every message is taken off its queue: dropped as malformed, or handled.
    await new Promise((r) => setTimeout(r, 3000));
    record("fuzz-sqs", { cases: bodies.length * 2 });
    expect(handlerFailures()).toEqual([]);
  });

  it("still takes a release all the way through afterwards", async () => {
    await p.production.close();
    const agents = [
      new FakeAgent(p.stack.wsUrl, "k8s-staging", await relink("k8s-staging")),
      new FakeAgent(p.stack.wsUrl, "k8s-production", await relink("k8s-production")),
    ];
    for (const agent of agents) await agent.connect();
    try {
      // The fuzzed config may have changed the application: apply it as the test knows it.
      await p.application("fuzzed");
      const releaseId = await p.release("fuzzed", "9.9.9");
      await eventually(() => p.convergedOn("fuzzed", "production", releaseId), 60_000);
      record("fuzz-live", { releases: 1 });
    } finally {
      for (const agent of agents) await agent.close();
    }
  });
});
