import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams, type InstructionMessage } from "../../core/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { eventually } from "../support/wait.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

/**
 * Many runtimes in one channel, all reporting at once, on the real local stack: each runtime's
 * progress goes to its own delivery stream, so no report contends with another's, and the channel's
 * stream hears only of the dispatch and, once, of the convergence.
 */
const RUNTIMES = Array.from({ length: 24 }, (_, i) => `wide-${i}`);
let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
const agents: FakeAgent[] = [];
/** The image tag whose instruction wide-0 only acknowledges, never reports on. */
const SILENT = ":2.0.0-silent";
type ServiceView = { state: string; runtimes: Record<string, { status: string }> };
const serviceView = async () =>
  ((await api("/v1/applications/wide")) as { channels: { services: Record<string, ServiceView> }[] }).channels[0]!
    .services["wide-api"];

async function api(path: string, method = "GET", body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${secrets.adminApiKey}`, "content-type": "application/json" },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function release(tag: string): Promise<string> {
  const body = JSON.stringify({
    application: "wide",
    service: "wide-api",
    params: { image: `registry.example.com/api:${tag}` },
  });
  const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...signedWebhookHeaders(secrets.webhookSecret, body) },
  });
  return ((await res.json()) as { releaseId: string }).releaseId;
}

beforeAll(async () => {
  stack = await startLocalStack({ stage: "fan-in" });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
  await api("/v1/configs", "PUT", [
    ...RUNTIMES.map((name) => ({ runtime: { name, kubernetes: {} } })),
    {
      application: {
        name: "wide",
        releaseChannels: [
          { name: "staging", runtimes: RUNTIMES.map((runtime) => ({ runtime })), constants: { replicas: 1 } },
        ],
      },
    },
    { service: { ...docs.api.service, name: "wide-api", application: "wide" } },
  ]);
  for (const runtime of RUNTIMES) {
    const { token } = (await api(`/v1/runtimes/${runtime}/link`, "POST")) as { token: string };
    const silent = (i: InstructionMessage) => runtime === "wide-0" && JSON.stringify(i.payload).includes(SILENT);
    const agent: FakeAgent = new FakeAgent(stack.wsUrl, runtime, token, {
      outcome: (i) => (silent(i) ? "none" : "succeeded"),
      onInstruction: (i) => silent(i) && agent.send({ action: "ack", instructionId: i.instructionId }),
    });
    await agent.connect();
    agents.push(agent);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await stack?.stop();
});

describe("a channel of many runtimes", () => {
  it("hears every runtime's progress in its own stream, and converges once, with no report contended", async () => {
    const releaseId = await release("1.0.0");
    const channel = () => store.read(streams.channel("wide", "staging"));
    await eventually(async () =>
      (await channel()).some((e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId),
    );
    const log = (await channel()).filter((e) => "releaseId" in e.data && e.data.releaseId === releaseId);
    expect(log.filter((e) => e.type === "InstructionDispatched")).toHaveLength(RUNTIMES.length);
    expect(log.filter((e) => e.type === "ChannelConverged")).toHaveLength(1);
    // Nothing of the agents' progress is in the channel's stream…
    expect(log.filter((e) => e.type !== "InstructionDispatched" && e.type !== "ChannelConverged")).toEqual([]);
    // …each runtime's is in its own, once.
    for (const runtime of RUNTIMES) {
      const delivery = (await store.read(streams.delivery("wide", "staging", runtime))).filter(
        (e) => "instructionId" in e.data && e.data.instructionId.includes(releaseId),
      );
      // (An acknowledgement that arrives after the success records nothing: progress only moves forward.)
      const types = delivery.map((e) => e.type);
      expect(types.every((t) => ["InstructionAcknowledged", "ApplyStarted", "ApplySucceeded"].includes(t))).toBe(true);
      expect(new Set(types).size).toBe(types.length);
      const succeeded = delivery.filter((e) => e.type === "ApplySucceeded");
      expect(succeeded).toHaveLength(1);
      expect(succeeded[0]!.data).toMatchObject({ service: "wide-api", releaseId, runtime });
    }
    // No agent was asked to send a report again because it lost a race for a stream version.
    expect(agents.flatMap((a) => a.errors)).toEqual([]);
    await eventually(async () => {
      const svc = await serviceView();
      return svc?.state === "converged" && Object.values(svc.runtimes).every((r) => r.status === "succeeded");
    });
  });

  it("shows each runtime's progress in the channel's view before the channel converges", async () => {
    // wide-0 acknowledges this release and says no more; every other runtime succeeds.
    const releaseId = await release(SILENT.slice(1));
    await eventually(async () => {
      const svc = await serviceView();
      return (
        svc?.state === "deploying" &&
        svc.runtimes["wide-0"]?.status === "acknowledged" &&
        RUNTIMES.slice(1).every((r) => svc.runtimes[r]?.status === "succeeded")
      );
    });
    const converged = (await store.read(streams.channel("wide", "staging"))).some(
      (e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId,
    );
    expect(converged).toBe(false);
  });
});
