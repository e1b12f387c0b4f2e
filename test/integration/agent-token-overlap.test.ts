import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CURRENT_AGENT_VERSION, streams } from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import type { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import type { EventStore } from "../../functions/adapters/event-store.js";
import type { WakeUp, WakeUpQueue } from "../../functions/adapters/wake-up-queue.js";
import { createHttpApp } from "../../functions/http.js";
import { connectAgent, receiveAgentMessage } from "../../functions/services/agents.js";
import { bearerToken } from "../../functions/services/credentials.js";
import type { ApiDeps, BackendDeps } from "../../functions/services/deps.js";
import { greetAgent, redeliver } from "../../functions/services/push.js";
import { isolatedApiStorage } from "../support/dynamo.js";
import { docs } from "../support/fixtures.js";

/**
 * A rotation's overlap as time passes, on a clock of the test's own: the real event log, read
 * models and HTTP app, with API Gateway's side stood in for. A connection made with the previous
 * token is served until the overlap ends and refused (and closed) at its next message after;
 * payload fetches and new connections follow the same rule.
 */
const T0 = Date.parse("2026-12-04T10:00:00.000Z");
let now = new Date(T0);
const at = (ms: number) => (now = new Date(T0 + ms));
const secrets = { adminApiKey: "admin-key-for-tests-0123456789", webhookSecret: "w", slackSigningSecret: "s" };
const sent: { connectionId: string; message: { type: string; code?: string } }[] = [];
const closed: string[] = [];
const scheduled: WakeUp[] = [];
let answer: "sent" | "gone" = "sent";
let store: EventStore;
let drop: () => Promise<void>;
let app: ReturnType<typeof createHttpApp>;
let backend: BackendDeps;

const admin = { authorization: `Bearer ${secrets.adminApiKey}`, "content-type": "application/json" };
const post = async (path: string, body?: object) => {
  const res = await app.request(path, {
    method: "POST",
    headers: admin,
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const get = async (path: string, token = secrets.adminApiKey) => {
  const res = await app.request(path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const meta = (): Metadata => ({
  occurredAt: now.toISOString(),
  actor: { kind: "agent", id: "test" },
  correlationId: "c",
  causationId: "c",
});
const connect = (connectionId: string, token: string, agentVersion = CURRENT_AGENT_VERSION) =>
  connectAgent(
    backend,
    { connectionId, runtime: "k8s-clock", bearer: bearerToken(`Bearer ${token}`), agentVersion },
    meta(),
  );
const heartbeat = (connectionId: string) =>
  receiveAgentMessage(backend, connectionId, JSON.stringify({ action: "heartbeat" }), meta());
const sentTo = (connectionId: string) => sent.filter((s) => s.connectionId === connectionId).map((s) => s.message);
const INSTRUCTION = "clock.only.r1.k8s-clock";

beforeAll(async () => {
  const storage = await isolatedApiStorage();
  ({ store, drop } = storage);
  const deps: ApiDeps = {
    store,
    readModels: storage.readModels,
    secretStore: storage.secretStore,
    secrets,
    checks: {},
    now: () => now,
  };
  app = createHttpApp(deps);
  backend = {
    store,
    readModels: storage.readModels,
    gateway: {
      send: async (connectionId: string, message: { type: string }) => (sent.push({ connectionId, message }), answer),
      close: async (connectionId: string) => void closed.push(connectionId),
    } as unknown as AgentGateway,
    scheduler: { schedule: async (wake: WakeUp) => void scheduled.push(wake) } as unknown as WakeUpQueue,
    now: () => now,
  };
  const res = await app.request("/v1/configs", {
    method: "PUT",
    headers: admin,
    body: JSON.stringify([
      { runtime: { name: "k8s-clock", kubernetes: {} } },
      {
        application: {
          name: "clock",
          releaseChannels: [{ name: "only", runtimes: [{ runtime: "k8s-clock" }], constants: { replicas: 1 } }],
        },
      },
      { service: { ...docs.api.service, application: "clock" } },
    ]),
  });
  expect(res.status).toBe(200);
  // An instruction whose payload the agent may fetch over HTTP.
  await store.append(
    streams.channel("clock", "only"),
    0,
    [
      {
        type: "InstructionDispatched",
        data: {
          instructionId: INSTRUCTION,
          releaseId: "r1",
          channel: "only",
          application: "clock",
          service: "api",
          runtime: "k8s-clock",
          payload: { kind: "kubernetes", manifests: ["kind: Deployment"] },
          rollback: false,
        },
      },
    ],
    meta(),
  );
});
afterAll(() => drop());

let first: string;
let second: string;

describe("a rotation's overlap, as time passes", () => {
  const payload = async (token: string) => {
    const res = await get(`/v1/agent/instructions/${INSTRUCTION}`, token);
    return { status: res.status, code: res.body.code };
  };

  it("accepts the previous token until the overlap ends, for messages, payload fetches and connections", async () => {
    at(0);
    first = (await post("/v1/runtimes/k8s-clock/link")).body.token as string;
    expect(await connect("c1", first)).toBeUndefined();
    const rotated = await post("/v1/runtimes/k8s-clock/token", { overlap: "10m" });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    second = rotated.body.token as string;
    expect(rotated.body).toMatchObject({
      rotatedAt: "2026-12-04T10:00:00.000Z",
      previousTokenValidUntil: "2026-12-04T10:10:00.000Z",
    });

    at(5 * 60_000);
    expect((await get("/v1/runtimes/k8s-clock")).body).toMatchObject({
      linked: true,
      connected: true,
      tokenRotatedAt: "2026-12-04T10:00:00.000Z",
      previousTokenValidUntil: "2026-12-04T10:10:00.000Z",
    });

    at(10 * 60_000 - 1);
    await heartbeat("c1");
    expect(sentTo("c1")).toEqual([]);
    expect(await payload(first)).toEqual({ status: 200, code: undefined });
  });

  it("refuses the next message of a connection made with it once the overlap ended, ends its lease and closes it", async () => {
    at(10 * 60_000);
    await heartbeat("c1");
    expect(sentTo("c1")).toEqual([expect.objectContaining({ type: "error", code: "agent.token_expired" })]);
    expect(closed).toEqual(["c1"]);
    expect((await store.read(streams.runtime("k8s-clock"))).at(-1)).toMatchObject({
      type: "AgentDisconnected",
      data: { connectionId: "c1", reason: "agent token expired" },
    });
    const view = (await get("/v1/runtimes/k8s-clock")).body;
    expect(view).toMatchObject({ linked: true, connected: false, disconnectReason: "agent token expired" });
    expect(view.previousTokenValidUntil).toBeUndefined();
  });

  it("refuses the previous token for payload fetches and connections after the overlap, and takes the new one", async () => {
    expect(await payload(first)).toEqual({ status: 401, code: "agent.token_expired" });
    expect(await payload(second)).toEqual({ status: 200, code: undefined });
    expect(await connect("c2", first)).toMatchObject({
      status: 401,
      reason: expect.stringContaining("no longer accepted"),
    });
    at(25 * 3600_000);
    expect(await connect("c3", second)).toBeUndefined();
    await heartbeat("c3");
    expect(sentTo("c3")).toEqual([]);
  });
});

describe("the upgrade request and a connection still opening", () => {
  it("sends it again, before what the runtime has not finished, once the connection is open", async () => {
    at(26 * 3600_000);
    expect(await connect("c4", second, "1.0.0")).toBeUndefined();
    // API Gateway answers 410 until $connect returns: the request is tried again a second later.
    answer = "gone";
    await greetAgent(backend, "k8s-clock", "c4", meta());
    expect(sentTo("c4")).toEqual([expect.objectContaining({ type: "upgrade" })]);
    expect(scheduled.at(-1)).toMatchObject({ kind: "redeliver", connectionId: "c4", upgrade: true });
    expect((await store.read(streams.runtime("k8s-clock"))).at(-1)).toMatchObject({
      type: "AgentConnected",
      data: { connectionId: "c4" },
    });

    answer = "sent";
    at(26 * 3600_000 + 1000);
    await redeliver(backend, "k8s-clock", "c4", meta(), { upgrade: true });
    expect(sentTo("c4").slice(1)).toEqual([
      {
        type: "upgrade",
        version: CURRENT_AGENT_VERSION,
        image: `slipway/agent:${CURRENT_AGENT_VERSION}`,
      },
      expect.objectContaining({ type: "instruction", instructionId: INSTRUCTION }),
    ]);
  });
});
