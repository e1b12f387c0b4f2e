import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CURRENT_AGENT_VERSION, streams } from "../../core/index.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

/**
 * Agent tokens on the local stack: rotating one with an overlap (the previous token still works
 * for connections and payload fetches until it ends), revoking them, and the `upgrade` request a
 * managed runtime's outdated agent receives when it connects.
 */
let p: Pipeline;
const agents: FakeAgent[] = [];
const agent = (runtime: string, token: string, version?: string) => {
  const a = new FakeAgent(p.stack.wsUrl, runtime, token, version ? { version } : {});
  agents.push(a);
  return a;
};
const refusal = async (a: FakeAgent) =>
  (await a.connect().then(
    () => undefined,
    (e: unknown) => e,
  )) as { status: number; body: string } | undefined;
type RuntimeBody = Record<string, unknown>;
const runtime = async (name: string) => (await p.api(`/v1/runtimes/${name}`)).body as RuntimeBody;
const runtimeEvents = (name: string) => p.store.read(streams.runtime(name));
const fetchPayload = (instructionId: string, token: string) =>
  fetch(`${p.stack.httpUrl}/v1/agent/instructions/${encodeURIComponent(instructionId)}`, {
    headers: { authorization: `Bearer ${token}` },
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string } }));

/** An application `name` with one channel on `runtime`, and its service `<name>-api`. */
const application = (name: string, on: string) => [
  {
    application: { name, releaseChannels: [{ name: "only", runtimes: [{ runtime: on }], constants: { replicas: 1 } }] },
  },
  { service: { ...docs.api.service, name: `${name}-api`, application: name } },
];

beforeAll(async () => {
  p = await openPipeline("agent-tokens");
  await p.apply([
    { runtime: { name: "k8s-rotate", kubernetes: {} } },
    { runtime: { name: "k8s-external", kubernetes: { management: "external" } } },
    ...application("rot", "k8s-rotate"),
    ...application("ext", "k8s-external"),
  ]);
});
afterAll(async () => {
  for (const a of agents) await a.close();
  await p.close();
});

describe("rotating an agent token", () => {
  let first: string;
  let second: string;
  let instructionId: string;

  it("keeps the runtime linked and its agent connected, and accepts both tokens during the overlap", async () => {
    const link = await p.api("/v1/runtimes/k8s-rotate/link?image=registry.example.com/ops/agent:1.0.0", {
      method: "POST",
    });
    expect(link.status).toBe(200);
    first = link.body.token as string;
    const a1 = agent("k8s-rotate", first);
    await a1.connect();
    await eventually(async () => (await runtime("k8s-rotate")).connected === true);

    const rotated = await p.api("/v1/runtimes/k8s-rotate/token", { method: "POST", body: { overlap: "1h" } });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    second = rotated.body.token as string;
    expect(second).not.toBe(first);
    expect(rotated.body).toMatchObject({
      runtime: "k8s-rotate",
      tokenGeneration: 2,
      previousTokenId: link.body.tokenId,
      secret: { namespace: "slipway-agent", name: "slipway-agent-k8s-rotate", key: "SLIPWAY_AGENT_TOKEN" },
      commands: [
        `kubectl patch secret slipway-agent-k8s-rotate -n slipway-agent --type merge -p '{"stringData":{"SLIPWAY_AGENT_TOKEN":"${second}"}}'`,
        "kubectl rollout restart deployment/slipway-agent-k8s-rotate -n slipway-agent",
      ],
    });
    expect(
      Date.parse(rotated.body.previousTokenValidUntil as string) - Date.parse(rotated.body.rotatedAt as string),
    ).toBe(3_600_000);
    expect(await runtime("k8s-rotate")).toMatchObject({
      linked: true,
      connected: true,
      tokenRotatedAt: rotated.body.rotatedAt,
      previousTokenValidUntil: rotated.body.previousTokenValidUntil,
    });

    // The connection made with the previous token is still served: its state report is taken.
    a1.send({ action: "state", services: [{ service: "rot-api", healthy: true }] });
    await eventually(async () => ((await runtime("k8s-rotate")).running as unknown[] | undefined)?.length === 1);
    // New connections with either token are accepted; each takes the lease as always.
    const a2 = agent("k8s-rotate", first);
    expect(await refusal(a2)).toBeUndefined();
    const a3 = agent("k8s-rotate", second);
    expect(await refusal(a3)).toBeUndefined();
    const history = await runtimeEvents("k8s-rotate");
    const after = history.slice(history.findIndex((e) => e.type === "AgentTokenRotated") + 1);
    expect(after.map((e) => e.type)).toEqual([
      "AgentSuperseded",
      "AgentConnected",
      "AgentSuperseded",
      "AgentConnected",
    ]);
    expect(after.filter((e) => e.type === "AgentConnected").map((e) => e.data.tokenGeneration)).toEqual([1, 2]);

    // Payload fetches take either token too.
    const releaseId = await p.release("rot", "1.0.0");
    await until(() => a3.received(releaseId).length > 0);
    instructionId = a3.received(releaseId)[0]!.instructionId;
    expect((await fetchPayload(instructionId, first)).status).toBe(200);
    expect((await fetchPayload(instructionId, second)).status).toBe(200);
  });

  it("ends the overlap early with revoke ?token=previous, disconnecting an agent on the previous token", async () => {
    const onPrevious = agent("k8s-rotate", first);
    await onPrevious.connect();
    const revoked = await p.api("/v1/runtimes/k8s-rotate/revoke?token=previous", { method: "POST" });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body).toMatchObject({
      scope: "previous",
      changed: true,
      tokens: [{ tokenGeneration: 1 }],
      disconnected: expect.any(String),
    });
    await until(() => onPrevious.closed);
    expect(onPrevious.errors).toContainEqual(expect.objectContaining({ code: "agent.token_revoked" }));

    expect(await refusal(agent("k8s-rotate", first))).toMatchObject({
      status: 401,
      body: expect.stringContaining("no longer accepted"),
    });
    expect(await fetchPayload(instructionId, first)).toMatchObject({
      status: 401,
      body: { code: "agent.token_expired" },
    });
    expect((await fetchPayload(instructionId, second)).status).toBe(200);
    expect(await refusal(agent("k8s-rotate", second))).toBeUndefined();
    const now = await runtime("k8s-rotate");
    expect(now).toMatchObject({ linked: true, connected: true });
    expect(now.previousTokenValidUntil).toBeUndefined();
    // Nothing to end a second time.
    const again = await p.api("/v1/runtimes/k8s-rotate/revoke?token=previous", { method: "POST" });
    expect(again.body).toMatchObject({ changed: false, tokens: [] });
  });

  it("refuses the next message of a connection whose token's overlap ended, and closes it", async () => {
    // The connection holding the lease authenticated with `second`, which becomes the previous token for 1 s.
    const holder = agents.at(-1)!;
    const rotated = await p.api("/v1/runtimes/k8s-rotate/token?overlap=1s", { method: "POST" });
    expect(rotated.status).toBe(200);
    await eventually(async () => (await runtime("k8s-rotate")).previousTokenValidUntil === undefined, 10_000);
    holder.send({ action: "heartbeat" });
    await until(() => holder.closed);
    expect(holder.errors).toContainEqual(expect.objectContaining({ code: "agent.token_expired" }));
    expect((await runtimeEvents("k8s-rotate")).at(-1)).toMatchObject({
      type: "AgentDisconnected",
      data: { reason: "agent token expired" },
    });
    second = rotated.body.token as string;
    expect(await refusal(agent("k8s-rotate", second))).toBeUndefined();
  });

  it("refuses a rotation it cannot make, naming why", async () => {
    const long = await p.api("/v1/runtimes/k8s-rotate/token?overlap=25h", { method: "POST" });
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ code: "request.invalid", errors: [{ path: "overlap" }] });
    expect((await p.api("/v1/runtimes/k8s-rotate/token", { method: "POST", body: { overlap: "soon" } })).status).toBe(
      400,
    );
    expect((await p.api("/v1/runtimes/nowhere/token", { method: "POST" })).body).toMatchObject({
      code: "runtime.not_found",
    });
    // Rotating and revoking take the admin scope, as linking does.
    const key = (await p.api("/v1/api-keys", { method: "POST", body: { name: "reader", scopes: ["read"] } })).body
      .key as string;
    for (const path of ["token", "revoke", "link"])
      expect((await p.api(`/v1/runtimes/k8s-rotate/${path}`, { method: "POST", key })).status).toBe(403);
  });
});

describe("revoking every agent token", () => {
  it("disconnects the agent, refuses both tokens, and the runtime must be linked again", async () => {
    const link = await p.api("/v1/runtimes/k8s-rotate/link?image=registry.example.com/ops/agent:1.0.0", {
      method: "POST",
    });
    const first = link.body.token as string;
    const connected = agent("k8s-rotate", first);
    await connected.connect();
    const second = (await p.api("/v1/runtimes/k8s-rotate/token", { method: "POST" })).body.token as string;
    const releaseId = await p.release("rot", "2.0.0");
    await until(() => connected.received(releaseId).length > 0);
    const instructionId = connected.received(releaseId)[0]!.instructionId;

    const revoked = await p.api("/v1/runtimes/k8s-rotate/revoke", { method: "POST" });
    expect(revoked.body).toMatchObject({ scope: "all", changed: true, disconnected: expect.any(String) });
    expect((revoked.body.tokens as { tokenGeneration: number }[]).map((t) => t.tokenGeneration).sort()).toHaveLength(2);
    await until(() => connected.closed);
    expect(connected.errors).toContainEqual(expect.objectContaining({ code: "agent.token_revoked" }));

    for (const token of [first, second]) {
      expect(await refusal(agent("k8s-rotate", token))).toMatchObject({
        status: 401,
        body: expect.stringContaining("revoked"),
      });
      expect(await fetchPayload(instructionId, token)).toMatchObject({
        status: 401,
        body: { code: "agent.token_revoked" },
      });
    }
    expect(await runtime("k8s-rotate")).toMatchObject({ linked: false, connected: false });
    expect((await p.api("/v1/runtimes/k8s-rotate/revoke", { method: "POST" })).body).toMatchObject({ changed: false });
    expect((await p.api("/v1/runtimes/k8s-rotate/token", { method: "POST" })).body).toMatchObject({
      status: 409,
      code: "runtime.not_linked",
    });

    const relinked = (await p.api("/v1/runtimes/k8s-rotate/link", { method: "POST" })).body.token as string;
    expect(await refusal(agent("k8s-rotate", relinked))).toBeUndefined();
    await eventually(async () => (await runtime("k8s-rotate")).linked === true);
  });
});

describe("keeping agents current", () => {
  it("asks a managed runtime's outdated agent to upgrade, from the repository it was linked with", async () => {
    const token = (
      await p.api("/v1/runtimes/k8s-rotate/link?image=registry.example.com:5000/ops/agent:1.0.0", { method: "POST" })
    ).body.token as string;
    const outdated = agent("k8s-rotate", token, "1.0.0");
    await outdated.connect();
    await until(() => outdated.upgrades.length > 0);
    expect(outdated.upgrades[0]).toEqual({
      type: "upgrade",
      version: CURRENT_AGENT_VERSION,
      image: `registry.example.com:5000/ops/agent:${CURRENT_AGENT_VERSION}`,
    });
    expect(await runtime("k8s-rotate")).toMatchObject({
      management: "managed",
      agentVersion: "1.0.0",
      upgradeAvailable: true,
      latestAgentVersion: CURRENT_AGENT_VERSION,
    });

    const current = agent("k8s-rotate", token, CURRENT_AGENT_VERSION);
    await current.connect();
    await eventually(async () => (await runtime("k8s-rotate")).agentVersion === CURRENT_AGENT_VERSION);
    expect(await runtime("k8s-rotate")).toMatchObject({ upgradeAvailable: false });
  });

  it("never asks an external runtime's agent, though the API says an upgrade is available", async () => {
    const token = (await p.api("/v1/runtimes/k8s-external/link", { method: "POST" })).body.token as string;
    // An instruction waits for the agent: it is sent after the upgrade request would have been.
    const releaseId = await p.release("ext", "1.0.0");
    await eventually(async () =>
      (await p.channelEvents("ext", "only")).some((e) => e.type === "InstructionDispatched"),
    );
    const outdated = agent("k8s-external", token, "1.0.0");
    await outdated.connect();
    await until(() => outdated.received(releaseId).length > 0);
    expect(outdated.upgrades).toEqual([]);
    expect(await runtime("k8s-external")).toMatchObject({
      management: "external",
      agentVersion: "1.0.0",
      upgradeAvailable: true,
      latestAgentVersion: CURRENT_AGENT_VERSION,
    });
    const listed = ((await p.api("/v1/runtimes")).body.items as RuntimeBody[]).find((r) => r.name === "k8s-external");
    expect(listed).toMatchObject({ management: "external", upgradeAvailable: true });

    // The dashboard's runtimes page shows it as a badge, on the outdated agent's row only.
    const page = await fetch(`${p.stack.httpUrl}/runtimes`, {
      headers: { authorization: `Bearer ${p.secrets.adminApiKey}` },
    });
    expect(page.status).toBe(200);
    const rows = (await page.text()).split("<tr");
    const row = (name: string) => rows.find((r) => r.includes(`${name}<div`)) ?? "";
    expect(row("k8s-external")).toContain("upgrade available");
    expect(row("k8s-rotate")).toContain(CURRENT_AGENT_VERSION);
    expect(row("k8s-rotate")).not.toContain("upgrade available");
  });
});
