import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

let p: Pipeline;
/** Staging's agent: the pipeline's, until a test connects another in its place. */
let staging: FakeAgent;
const reconnected: FakeAgent[] = [];
/** The staging cluster fails every apply of application "fail". */
const outcome = (i: { application: string }) => (i.application === "fail" ? "failed" : "succeeded");

beforeAll(async () => {
  p = await openPipeline("ops", { stagingOutcome: outcome });
  staging = p.staging;
});

afterAll(async () => {
  await Promise.all(reconnected.map((a) => a.close()));
  await p?.close();
});

describe("release operations on the local stack", () => {
  it("blocks a release in production when its approval is rejected", async () => {
    await p.application("rej", { production: { preconditions: [{ manualApproval: {} }] } });
    const id = await p.release("rej", "1.0.0");
    await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    const rejected = await p.api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "reject", comment: "error budget spent" },
    });
    expect(rejected.body).toMatchObject({ state: "rejected" });
    await eventually(async () =>
      (await p.releaseEvents(id)).some((e) => e.type === "PreconditionBlocked" && e.data.reason.includes("rejected")),
    );
    const view = await p.api(`/v1/releases/${id}`);
    expect(
      (view.body.channels as { preconditions: Record<string, { reason: string }> }[])[1]!.preconditions[
        "manualApproval:approval"
      ]!.reason,
    ).toBe('approval "approval" was rejected by admin: error budget spent');
    const late = await p.api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(late).toMatchObject({ status: 409, body: { code: "approval.rejected" } });
    expect(p.production.received(id)).toEqual([]);
  });

  it("marks a channel failed when an apply fails, and the release goes no further", async () => {
    await p.application("fail", {
      production: { preconditions: [{ releaseChannelStable: { releaseChannel: "staging" } }] },
    });
    const id = await p.release("fail", "1.0.0");
    type AppView = {
      channels: {
        services: Record<string, { state: string; runtimes: Record<string, { status: string; message?: string }> }>;
      }[];
    };
    await eventually(
      async () =>
        ((await p.api("/v1/applications/fail")).body as unknown as AppView).channels[0]!.services["fail-api"]?.state ===
        "failed",
    );
    const app = (await p.api("/v1/applications/fail")).body as unknown as AppView;
    expect(app.channels[0]!.services["fail-api"]!.runtimes["k8s-staging"]).toMatchObject({
      status: "failed",
      message: "ImagePullBackOff",
    });
    const view = await p.api(`/v1/releases/${id}`);
    const [stagingView, productionView] = view.body.channels as { deployment: string; started: boolean }[];
    expect(stagingView!.deployment).toBe("failed");
    expect(productionView).toMatchObject({ started: false, deployment: "none" });
    expect(p.production.received(id)).toEqual([]);
  });

  it("rolls a channel back to an earlier release, skipping its gates", async () => {
    await p.application("rb", { production: { preconditions: [{ manualApproval: {} }] } });
    const r1 = await p.release("rb", "1.0.0");
    await eventually(() => p.convergedOn("rb", "staging", r1));
    const r2 = await p.release("rb", "2.0.0");
    await eventually(() => p.convergedOn("rb", "staging", r2));
    const rollback = await p.api("/v1/applications/rb/channels/staging/rollback", {
      method: "POST",
      body: { service: "rb-api", releaseId: r1, reason: "errors after 2.0.0" },
    });
    expect(rollback).toMatchObject({
      status: 200,
      body: { changed: true, instructions: ["rb.staging." + r1 + ".k8s-staging.1"] },
    });
    await until(() => staging.received(r1).some((i) => i.rollback));
    const events = await p.channelEvents("rb", "staging");
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
        (await p.channelEvents("rb", "staging")).filter((e) => e.type === "ChannelConverged" && e.data.releaseId === r1)
          .length === 2,
    );
    const never = await p.api("/v1/applications/rb/channels/production/rollback", {
      method: "POST",
      body: { service: "rb-api", releaseId: r1 },
    });
    expect(never).toMatchObject({ status: 409, body: { code: "rollback.unknown_release" } });
  });

  it("holds releases in a paused channel and supersedes the older one on resume", async () => {
    await p.application("sup");
    expect(
      (await p.api("/v1/applications/sup/channels/staging/pause", { method: "POST", body: { reason: "freeze" } })).body,
    ).toEqual({ changed: true });
    const r1 = await p.release("sup", "1.0.0");
    const r2 = await p.release("sup", "2.0.0");
    await eventually(async () => (await p.releaseEvents(r2)).some((e) => e.type === "PromotionStarted"));
    // Give the reactor its chance to (wrongly) dispatch before checking that it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect((await p.channelEvents("sup", "staging")).filter((e) => e.type === "InstructionDispatched")).toEqual([]);
    expect((await p.api("/v1/applications/sup/channels/staging/resume", { method: "POST" })).body).toEqual({
      changed: true,
    });
    await until(() => staging.received(r2).length > 0);
    await eventually(async () => (await p.releaseEvents(r1)).some((e) => e.type === "ReleaseSuperseded"));
    expect((await p.releaseEvents(r1)).find((e) => e.type === "ReleaseSuperseded")?.data).toEqual({
      releaseId: r1,
      channel: "staging",
      supersededBy: r2,
    });
    expect(staging.received(r1)).toEqual([]);
  });

  it("waits for a closed deploy window and says when it opens", async () => {
    const start = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    await p.application("win", {
      production: {
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
      },
    });
    const id = await p.release("win", "1.0.0");
    await eventually(async () =>
      (await p.releaseEvents(id)).some(
        (e) => e.type === "PreconditionBlocked" && e.data.precondition === "deployWindow",
      ),
    );
    const blocked = (await p.releaseEvents(id)).find((e) => e.type === "PreconditionBlocked");
    expect(blocked?.type === "PreconditionBlocked" && blocked.data.until).toBe(
      `${start.toISOString().slice(0, 16)}:00.000Z`,
    );
    expect(p.production.received(id)).toEqual([]);
  });

  it("abandons a release so that it is never promoted further", async () => {
    await p.application("abn", { production: { preconditions: [{ manualApproval: {} }] } });
    const id = await p.release("abn", "1.0.0");
    await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    const abandoned = await p.api(`/v1/releases/${id}/abandon`, { method: "POST", body: { reason: "bad build" } });
    expect(abandoned.body).toEqual({ changed: true });
    const approve = await p.api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(approve).toMatchObject({ status: 409, body: { code: "approval.not_pending", releaseState: "abandoned" } });
    expect((await p.api(`/v1/releases/${id}`)).body.status).toBe("abandoned");
  });

  it("keeps an instruction for an agent that is offline and delivers it when the agent reconnects", async () => {
    await p.application("off");
    await staging.close();
    const id = await p.release("off", "1.0.0");
    await eventually(async () =>
      (await p.channelEvents("off", "staging")).some((e) => e.type === "InstructionDispatched"),
    );
    const again = new FakeAgent(p.stack.wsUrl, "k8s-staging", p.tokens["k8s-staging"], { outcome });
    reconnected.push(again);
    await again.connect();
    staging = again;
    await until(() => again.received(id).length > 0);
    await eventually(() => p.convergedOn("off", "staging", id));
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
    expect((await p.api("/v1/configs", { method: "PUT", body: [app, service] })).status).toBe(200);
    const id = await p.release("big", "1.0.0");
    await until(() => staging.received(id).length > 0);
    const [instruction] = staging.received(id);
    expect(instruction!.payload).toBeUndefined();
    expect(instruction!.payloadUrl).toBe(
      `${p.stack.httpUrl}/v1/agent/instructions/${encodeURIComponent(instruction!.instructionId)}`,
    );
    const fetched = await fetch(instruction!.payloadUrl!, {
      headers: { authorization: `Bearer ${p.tokens["k8s-staging"]}` },
    });
    expect(fetched.status).toBe(200);
    const { payload } = (await fetched.json()) as { payload: { manifests: string[] } };
    expect(payload.manifests[0]).toContain('image: "registry.example.com/big/api:1.0.0"');
    expect(payload.manifests[0]!.length).toBeGreaterThan(128 * 1024);
    const wrongAgent = await fetch(instruction!.payloadUrl!, {
      headers: { authorization: `Bearer ${p.tokens["k8s-production"]}` },
    });
    expect(wrongAgent.status).toBe(401);
  });

  it("refuses agents with a bad token, an unknown runtime or an unsupported version", async () => {
    const refused = async (agent: FakeAgent) =>
      (await agent.connect().catch((e: unknown) => e)) as { status: number; body: string };
    expect(await refused(new FakeAgent(p.stack.wsUrl, "k8s-staging", "slwa_wrong"))).toMatchObject({
      status: 401,
      body: "the agent token is not valid for this runtime",
    });
    expect(await refused(new FakeAgent(p.stack.wsUrl, "k8s-mars", p.tokens["k8s-staging"]))).toMatchObject({
      status: 404,
      body: 'runtime "k8s-mars" does not exist',
    });
    expect(
      await refused(new FakeAgent(p.stack.wsUrl, "k8s-staging", p.tokens["k8s-staging"], { version: "0.9.0" })),
    ).toMatchObject({ status: 426, body: expect.stringContaining("agent version 0.9.0 is not supported") });
  });
});
