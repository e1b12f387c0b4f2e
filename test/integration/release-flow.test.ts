import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { streams } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { slackSignature } from "../../functions/services/credentials.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs, IMAGE } from "../support/fixtures.js";
import { until } from "../support/wait.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

/** A stand-in for Slack's incoming webhook: it keeps what was posted. */
let slack: Server;
const slackPosts: { text: string; blocks: { type: string; elements?: { action_id: string; value: string }[] }[] }[] =
  [];
let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
const agents: FakeAgent[] = [];

const SOAK = "3s";
const admin = () => ({ authorization: `Bearer ${secrets.adminApiKey}` });

beforeAll(async () => {
  slack = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      slackPosts.push(JSON.parse(body) as (typeof slackPosts)[number]);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => slack.listen(0, "127.0.0.1", () => r()));
  process.env.SLIPWAY_SLACK_WEBHOOK_URL = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/hook`;
  stack = await startLocalStack({ stage: "flow" });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await stack?.stop();
  slack?.close();
});

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    ...init,
    headers: { ...admin(), ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function link(runtime: string): Promise<string> {
  const { status, body } = await api(`/v1/runtimes/${runtime}/link`, { method: "POST" });
  expect(status).toBe(200);
  return body.token as string;
}

async function channelEvents(channel: string): Promise<StoredEvent[]> {
  return store.read(streams.channel("shop", channel));
}

describe("the release flow, end to end on the local stack", () => {
  it("takes a signed CI build through staging, a soak and a Slack approval into production", async () => {
    // 1. Configs: production waits for staging to be stable for a soak, and for an approval.
    const shop = structuredClone(docs.shop);
    shop.application.releaseChannels[1]!.preconditions = [
      { releaseChannelStable: { releaseChannel: "staging", duration: SOAK } },
      { manualApproval: {} },
    ] as never;
    const applied = await fetch(`${stack.httpUrl}/v1/configs`, {
      method: "PUT",
      headers: { ...admin(), "content-type": "application/yaml" },
      body: [docs.staging, docs.production, shop, docs.api].map((d) => stringify(d)).join("---\n"),
    });
    expect(applied.status).toBe(200);

    // Agents for both clusters, linked and connected.
    const staging = new FakeAgent(stack.wsUrl, "k8s-staging", await link("k8s-staging"));
    const production = new FakeAgent(stack.wsUrl, "k8s-production", await link("k8s-production"));
    agents.push(staging, production);
    await staging.connect();
    await production.connect();
    const runtimes = await api("/v1/runtimes");
    expect(runtimes.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "k8s-staging", linked: true, connected: true, agentVersion: "1.0.0" }),
      ]),
    );

    // 2. CI announces a build.
    const payload = JSON.stringify({
      application: "shop",
      service: "api",
      params: { image: IMAGE },
      source: { commit: "abc123", branch: "main" },
    });
    const created = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...signedWebhookHeaders(secrets.webhookSecret, payload),
        "x-slipway-delivery": "build-1",
      },
      body: payload,
    });
    expect(created.status).toBe(202);
    const { releaseId } = (await created.json()) as { releaseId: string };

    // 3. Staging's agent gets its instruction at once and reports success.
    await until(() => staging.instructions.length > 0);
    expect(staging.instructions[0]).toMatchObject({
      type: "instruction",
      releaseId,
      channel: "staging",
      runtime: "k8s-staging",
      payload: { kind: "kubernetes" },
    });
    expect(
      staging.instructions[0]!.payload?.kind === "kubernetes" && staging.instructions[0]!.payload.manifests[0],
    ).toContain(`image: "${IMAGE}"`);

    // 4. Production waits, and the release explains both gates.
    let view: Record<string, unknown> = {};
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      view = (await api(`/v1/releases/${releaseId}`)).body;
      const prod = (view.channels as { name: string; preconditions: Record<string, unknown> }[])[1]!;
      if (Object.keys(prod.preconditions).length === 2) break;
    }
    const prodGates = (
      view.channels as { preconditions: Record<string, { state: string; reason: string; until?: string }> }[]
    )[1]!.preconditions;
    expect(prodGates["releaseChannelStable:staging"]).toMatchObject({
      state: "blocked",
      reason: expect.stringContaining(`must stay healthy for ${SOAK}`),
      until: expect.any(String),
    });
    expect(prodGates["manualApproval:approval"]).toEqual({
      state: "blocked",
      reason: 'waiting for approval "approval": 0 of 1 approver',
    });
    expect(production.instructions).toEqual([]);

    // 5. The approval request reached Slack; a signed click on Approve comes back.
    await until(() => slackPosts.length > 0);
    const approve = slackPosts[0]!.blocks
      .find((b) => b.type === "actions")!
      .elements!.find((e) => e.action_id === "slipway_approve")!;
    const form = new URLSearchParams({
      payload: JSON.stringify({
        type: "block_actions",
        user: { id: "U024BE7LH", username: "alice" },
        actions: [{ action_id: approve.action_id, value: approve.value }],
      }),
    }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const click = await fetch(`${stack.httpUrl}/v1/callbacks/slack`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": slackSignature(secrets.slackSigningSecret, timestamp, form),
      },
      body: form,
    });
    expect(click.status).toBe(200);
    expect(((await click.json()) as { text: string }).text).toContain("alice approved");

    // 6. After the soak, production's instruction arrives and the agent reports success.
    await until(() => production.instructions.length > 0, 30_000);
    expect(production.instructions[0]).toMatchObject({ releaseId, channel: "production", runtime: "k8s-production" });
    // Invariant 6: the gate that becomes true at T (the end of the soak, or the approval if later)
    // is evaluated at T, not on a polling tick: within a second locally.
    const stagingConverged = (await channelEvents("staging")).find((e) => e.type === "ChannelConverged");
    const productionDispatched = (await channelEvents("production")).find((e) => e.type === "InstructionDispatched");
    const granted = (await store.read(streams.release(releaseId))).find((e) => e.type === "ApprovalGranted");
    const soakEnd =
      Date.parse(stagingConverged!.type === "ChannelConverged" ? stagingConverged!.data.convergedAt : "") + 3000;
    const due = Math.max(soakEnd, Date.parse(granted!.occurredAt));
    const dispatchedAt = Date.parse(productionDispatched!.occurredAt);
    expect(dispatchedAt).toBeGreaterThanOrEqual(soakEnd);
    expect(dispatchedAt - due).toBeLessThan(1000);

    // 7. Both channels converged on the release, and the history tells the whole story.
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      if ((await channelEvents("production")).some((e) => e.type === "ChannelConverged")) break;
    }
    for (const channel of ["staging", "production"]) {
      expect((await channelEvents(channel)).filter((e) => e.type === "ChannelConverged").map((e) => e.data)).toEqual([
        expect.objectContaining({ releaseId, channel }),
      ]);
    }
    // Each agent got its instruction once: pushed as it was dispatched, not again a stream hop later.
    expect(staging.instructions).toHaveLength(1);
    expect(production.instructions).toHaveLength(1);
    type AppView = {
      channels: {
        name: string;
        services: Record<
          string,
          {
            state: string;
            desiredReleaseId?: string;
            convergedReleaseId?: string;
            runtimes: Record<string, { status: string }>;
          }
        >;
      }[];
    };
    let app: AppView = { channels: [] };
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      app = (await api("/v1/applications/shop")).body as unknown as AppView;
      if (app.channels.every((c) => c.services.api?.state === "converged")) break;
    }
    for (const [i, runtime] of ["k8s-staging", "k8s-production"].entries()) {
      expect(app.channels[i]!.services.api).toMatchObject({
        state: "converged",
        desiredReleaseId: releaseId,
        convergedReleaseId: releaseId,
        runtimes: { [runtime]: { status: "succeeded" } },
      });
    }
    const released = (await api(`/v1/releases/${releaseId}`)).body.channels as { deployment: string }[];
    expect(released.map((c) => c.deployment)).toEqual(["converged", "converged"]);
    const history = (await api(`/v1/releases/${releaseId}/events`)).body.items as {
      type: string;
      actor: { kind: string; id: string };
    }[];
    expect(history.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        "ReleaseCreated",
        "PromotionStarted",
        "ApprovalRequested",
        "ApprovalGranted",
        "PreconditionSatisfied",
        "InstructionDispatched",
        "ApplySucceeded",
        "ChannelConverged",
      ]),
    );
    expect(history.find((e) => e.type === "ApprovalGranted")?.actor).toEqual({ kind: "user", id: "slack:U024BE7LH" });
  });
});
