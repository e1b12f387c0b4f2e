import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import type { Secrets } from "../../functions/services/deps.js";
import { signBody } from "../../functions/services/credentials.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { until } from "../support/wait.js";

let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
const tokens: Record<string, string> = {};
const agents: FakeAgent[] = [];
let staging: FakeAgent;
let production: FakeAgent;
/** The staging cluster fails every apply of application "fail". */
const outcome = (i: { application: string }) => (i.application === "fail" ? "failed" : "succeeded");

async function api(path: string, init: { method?: string; body?: unknown; contentType?: string } = {}) {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${secrets.adminApiKey}`,
      ...(init.body === undefined ? {} : { "content-type": init.contentType ?? "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An application of its own per test (with its own service), so tests do not see each other's releases. */
async function application(name: string, production: { preconditions?: object[] } = {}) {
  const app = {
    application: {
      name,
      releaseChannels: [
        { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
        {
          name: "production",
          runtimes: [{ runtime: "k8s-production" }],
          preconditions: production.preconditions ?? [],
          constants: { replicas: 3 },
        },
      ],
    },
  };
  const service = { service: { ...docs.api.service, name: `${name}-api`, application: name } };
  const res = await api("/v1/configs", { method: "PUT", body: [app, service] });
  expect(res.status).toBe(200);
}

async function release(app: string, tag: string, delivery?: string): Promise<string> {
  const body = JSON.stringify({
    application: app,
    service: `${app}-api`,
    params: { image: `registry.example.com/${app}/api:${tag}` },
  });
  const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-slipway-signature-256": signBody(secrets.webhookSecret, body),
      ...(delivery ? { "x-slipway-delivery": delivery } : {}),
    },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { releaseId: string }).releaseId;
}

const received = (agent: FakeAgent, releaseId: string) => agent.instructions.filter((i) => i.releaseId === releaseId);
const channelEvents = (app: string, channel: string): Promise<StoredEvent[]> =>
  store.read(streams.channel(app, channel));
const releaseEvents = (releaseId: string): Promise<StoredEvent[]> => store.read(streams.release(releaseId));

async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  stack = await startLocalStack({ stage: "ops" });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
  await api("/v1/configs", { method: "PUT", body: [docs.staging, docs.production] });
  for (const runtime of ["k8s-staging", "k8s-production"])
    tokens[runtime] = (await api(`/v1/runtimes/${runtime}/link`, { method: "POST" })).body.token as string;
  staging = new FakeAgent(stack.wsUrl, "k8s-staging", tokens["k8s-staging"]!, { outcome });
  production = new FakeAgent(stack.wsUrl, "k8s-production", tokens["k8s-production"]!);
  agents.push(staging, production);
  await staging.connect();
  await production.connect();
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await stack?.stop();
});

describe("release operations on the local stack", () => {
  it("blocks a release in production when its approval is rejected", async () => {
    await application("rej", { preconditions: [{ manualApproval: {} }] });
    const id = await release("rej", "1.0.0");
    await eventually(async () => (await releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    const rejected = await api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "reject", comment: "error budget spent" },
    });
    expect(rejected.body).toMatchObject({ state: "rejected" });
    await eventually(async () =>
      (await releaseEvents(id)).some((e) => e.type === "PreconditionBlocked" && e.data.reason.includes("rejected")),
    );
    const view = await api(`/v1/releases/${id}`);
    expect(
      (view.body.channels as { preconditions: Record<string, { reason: string }> }[])[1]!.preconditions[
        "manualApproval:approval"
      ]!.reason,
    ).toBe('approval "approval" was rejected by admin: error budget spent');
    const late = await api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(late).toMatchObject({ status: 409, body: { code: "approval.rejected" } });
    expect(received(production, id)).toEqual([]);
  });

  it("marks a channel failed when an apply fails, and the release goes no further", async () => {
    await application("fail", { preconditions: [{ releaseChannelStable: { releaseChannel: "staging" } }] });
    const id = await release("fail", "1.0.0");
    type AppView = {
      channels: {
        services: Record<string, { state: string; runtimes: Record<string, { status: string; message?: string }> }>;
      }[];
    };
    await eventually(
      async () =>
        ((await api("/v1/applications/fail")).body as unknown as AppView).channels[0]!.services["fail-api"]?.state ===
        "failed",
    );
    const app = (await api("/v1/applications/fail")).body as unknown as AppView;
    expect(app.channels[0]!.services["fail-api"]!.runtimes["k8s-staging"]).toMatchObject({
      status: "failed",
      message: "ImagePullBackOff",
    });
    const view = await api(`/v1/releases/${id}`);
    const [stagingView, productionView] = view.body.channels as { deployment: string; started: boolean }[];
    expect(stagingView!.deployment).toBe("failed");
    expect(productionView).toMatchObject({ started: false, deployment: "none" });
    expect(received(production, id)).toEqual([]);
  });

  it("rolls a channel back to an earlier release, skipping its gates", async () => {
    await application("rb", { preconditions: [{ manualApproval: {} }] });
    const r1 = await release("rb", "1.0.0");
    await eventually(async () =>
      (await channelEvents("rb", "staging")).some((e) => e.type === "ChannelConverged" && e.data.releaseId === r1),
    );
    const r2 = await release("rb", "2.0.0");
    await eventually(async () =>
      (await channelEvents("rb", "staging")).some((e) => e.type === "ChannelConverged" && e.data.releaseId === r2),
    );
    const rollback = await api("/v1/applications/rb/channels/staging/rollback", {
      method: "POST",
      body: { service: "rb-api", releaseId: r1, reason: "errors after 2.0.0" },
    });
    expect(rollback).toMatchObject({
      status: 200,
      body: { changed: true, instructions: ["rb.staging." + r1 + ".k8s-staging.1"] },
    });
    await until(() => received(staging, r1).some((i) => i.rollback));
    const events = await channelEvents("rb", "staging");
    expect(events.find((e) => e.type === "ReleaseRolledBack")?.data).toEqual({
      application: "rb",
      channel: "staging",
      service: "rb-api",
      fromReleaseId: r2,
      toReleaseId: r1,
      reason: "errors after 2.0.0",
    });
    await eventually(
      async () =>
        (await channelEvents("rb", "staging")).filter((e) => e.type === "ChannelConverged" && e.data.releaseId === r1)
          .length === 2,
    );
    const never = await api("/v1/applications/rb/channels/production/rollback", {
      method: "POST",
      body: { service: "rb-api", releaseId: r1 },
    });
    expect(never).toMatchObject({ status: 409, body: { code: "rollback.unknown_release" } });
  });

  it("holds releases in a paused channel and supersedes the older one on resume", async () => {
    await application("sup");
    expect(
      (await api("/v1/applications/sup/channels/staging/pause", { method: "POST", body: { reason: "freeze" } })).body,
    ).toEqual({ changed: true });
    const r1 = await release("sup", "1.0.0");
    const r2 = await release("sup", "2.0.0");
    await eventually(async () => (await releaseEvents(r2)).some((e) => e.type === "PromotionStarted"));
    // Give the reactor its chance to (wrongly) dispatch before checking that it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect((await channelEvents("sup", "staging")).filter((e) => e.type === "InstructionDispatched")).toEqual([]);
    expect((await api("/v1/applications/sup/channels/staging/resume", { method: "POST" })).body).toEqual({
      changed: true,
    });
    await until(() => received(staging, r2).length > 0);
    await eventually(async () => (await releaseEvents(r1)).some((e) => e.type === "ReleaseSuperseded"));
    expect((await releaseEvents(r1)).find((e) => e.type === "ReleaseSuperseded")?.data).toEqual({
      releaseId: r1,
      channel: "staging",
      supersededBy: r2,
    });
    expect(received(staging, r1)).toEqual([]);
  });

  it("waits for a closed deploy window and says when it opens", async () => {
    const start = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    await application("win", {
      preconditions: [
        {
          deployWindow: {
            days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            start: hhmm(start),
            end: hhmm(new Date(start.getTime() + 60 * 60 * 1000)),
            timeZone: "UTC",
          },
        },
      ],
    });
    const id = await release("win", "1.0.0");
    await eventually(async () =>
      (await releaseEvents(id)).some((e) => e.type === "PreconditionBlocked" && e.data.precondition === "deployWindow"),
    );
    const blocked = (await releaseEvents(id)).find((e) => e.type === "PreconditionBlocked");
    expect(blocked?.type === "PreconditionBlocked" && blocked.data.until).toBe(
      `${start.toISOString().slice(0, 16)}:00.000Z`,
    );
    expect(received(production, id)).toEqual([]);
  });

  it("abandons a release so that it is never promoted further", async () => {
    await application("abn", { preconditions: [{ manualApproval: {} }] });
    const id = await release("abn", "1.0.0");
    await eventually(async () => (await releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    expect((await api(`/v1/releases/${id}/abandon`, { method: "POST", body: { reason: "bad build" } })).body).toEqual({
      changed: true,
    });
    const approve = await api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(approve).toMatchObject({ status: 409, body: { code: "approval.not_pending", releaseState: "abandoned" } });
    expect((await api(`/v1/releases/${id}`)).body.status).toBe("abandoned");
  });

  it("keeps an instruction for an agent that is offline and delivers it when the agent reconnects", async () => {
    await application("off");
    await staging.close();
    const id = await release("off", "1.0.0");
    await eventually(async () =>
      (await channelEvents("off", "staging")).some((e) => e.type === "InstructionDispatched"),
    );
    const again = new FakeAgent(stack.wsUrl, "k8s-staging", tokens["k8s-staging"]!, { outcome });
    agents.push(again);
    await again.connect();
    staging = again;
    await until(() => received(again, id).length > 0);
    await eventually(async () =>
      (await channelEvents("off", "staging")).some((e) => e.type === "ChannelConverged" && e.data.releaseId === id),
    );
  });

  it("sends an instruction too large for one WebSocket message as a reference the agent fetches with its token", async () => {
    const big = "# padding\n".repeat(15_000);
    const service = {
      service: {
        ...docs.api.service,
        name: "big-api",
        application: "big",
        kubernetesConfig: { manifests: [`${docs.api.service.kubernetesConfig.manifests[0]}${big}`] },
      },
    };
    const app = {
      application: {
        name: "big",
        releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } }],
      },
    };
    expect((await api("/v1/configs", { method: "PUT", body: [app, service] })).status).toBe(200);
    const id = await release("big", "1.0.0");
    await until(() => received(staging, id).length > 0);
    const [instruction] = received(staging, id);
    expect(instruction!.payload).toBeUndefined();
    expect(instruction!.payloadUrl).toBe(
      `${stack.httpUrl}/v1/agent/instructions/${encodeURIComponent(instruction!.instructionId)}`,
    );
    const fetched = await fetch(instruction!.payloadUrl!, {
      headers: { authorization: `Bearer ${tokens["k8s-staging"]}` },
    });
    expect(fetched.status).toBe(200);
    const { payload } = (await fetched.json()) as { payload: { manifests: string[] } };
    expect(payload.manifests[0]).toContain('image: "registry.example.com/big/api:1.0.0"');
    expect(payload.manifests[0]!.length).toBeGreaterThan(128 * 1024);
    const wrongAgent = await fetch(instruction!.payloadUrl!, {
      headers: { authorization: `Bearer ${tokens["k8s-production"]}` },
    });
    expect(wrongAgent.status).toBe(401);
  });

  it("refuses agents with a bad token, an unknown runtime or an unsupported version", async () => {
    const refused = async (agent: FakeAgent) =>
      (await agent.connect().catch((e: unknown) => e)) as { status: number; body: string };
    expect(await refused(new FakeAgent(stack.wsUrl, "k8s-staging", "slwa_wrong"))).toMatchObject({
      status: 401,
      body: "the agent token is not valid for this runtime",
    });
    expect(await refused(new FakeAgent(stack.wsUrl, "k8s-mars", tokens["k8s-staging"]!))).toMatchObject({
      status: 404,
      body: 'runtime "k8s-mars" does not exist',
    });
    expect(
      await refused(new FakeAgent(stack.wsUrl, "k8s-staging", tokens["k8s-staging"]!, { version: "0.9.0" })),
    ).toMatchObject({ status: 426, body: expect.stringContaining("agent version 0.9.0 is not supported") });
  });
});
