import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

let p: Pipeline;

beforeAll(async () => {
  p = await openPipeline("stays");
});
afterAll(async () => {
  await p?.close();
});

const approval = { production: { preconditions: [{ manualApproval: {} }] } };

/** Takes a release through staging and production's approval until production converged on it. */
async function toProduction(app: string, tag: string, times = 1): Promise<string> {
  const id = await p.release(app, tag);
  await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
  expect(
    (await p.api(`/v1/releases/${id}/channels/production/approvals`, { method: "POST", body: { decision: "approve" } }))
      .status,
  ).toBe(200);
  await eventually(() => p.convergedOn(app, "production", id, times));
  return id;
}

/** Every automatic path that could take a release to a channel again: a due wake-up, a resumed channel, an agent coming back. */
async function nudge(app: string, releaseId: string): Promise<void> {
  const sqs = new SQSClient({ endpoint: p.stack.sqsEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const body = JSON.stringify({ releaseId, channel: "production", at: new Date().toISOString() });
  await sqs.send(new SendMessageCommand({ QueueUrl: p.stack.queues.preconditions, MessageBody: body }));
  await p.api(`/v1/applications/${app}/channels/production/pause`, { method: "POST", body: { reason: "nudge" } });
  await p.api(`/v1/applications/${app}/channels/production/resume`, { method: "POST" });
  await p.production.close();
  await p.production.connect();
  // The wake-up is evaluated once it is received: wait for its evaluation to be recorded.
  await eventually(async () =>
    (await p.releaseEvents(releaseId)).some(
      (e) => e.type === "PreconditionBlocked" && e.data.precondition === "rollback",
    ),
  );
}

const dispatchedTo = async (app: string, channel: string, releaseId: string) =>
  (await p.channelEvents(app, channel)).filter(
    (e) => e.type === "InstructionDispatched" && e.data.releaseId === releaseId && !e.data.rollback,
  ).length;

describe("a rollback stays rolled back", () => {
  it("keeps the rolled-back release out of production until an operator promotes it explicitly", async () => {
    await p.application("stay", approval);
    const r1 = await toProduction("stay", "1.0.0");
    const r2 = await toProduction("stay", "2.0.0");
    const rollback = await p.api("/v1/applications/stay/channels/production/rollback", {
      method: "POST",
      body: { service: "stay-api", releaseId: r1, reason: "errors after 2.0.0" },
    });
    expect(rollback).toMatchObject({ status: 200, body: { changed: true } });
    await eventually(() => p.convergedOn("stay", "production", r1, 2));

    await nudge("stay", r2);
    // Give the reactor its chance to (wrongly) dispatch r2 again before checking that it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect(await dispatchedTo("stay", "production", r2)).toBe(1);
    const view = await p.api(`/v1/releases/${r2}`);
    const production = (
      view.body.channels as { name: string; preconditions: Record<string, { state: string; reason?: string }> }[]
    )[1]!;
    expect(production.preconditions.rollback).toEqual({
      state: "blocked",
      reason: `release channel "production" was rolled back from ${r2}; release ${r2} goes there again only when promoted explicitly (POST /v1/releases/${r2}/channels/production/promote)`,
    });

    const promoted = await p.api(`/v1/releases/${r2}/channels/production/promote`, {
      method: "POST",
      body: { reason: "the bug was in the config, fixed" },
    });
    expect(promoted).toEqual({ status: 200, body: { changed: true } });
    await eventually(() => p.convergedOn("stay", "production", r2, 2));
    const after = await p.api(`/v1/releases/${r2}`);
    expect((after.body.channels as { explicitPromotion?: object }[])[1]!.explicitPromotion).toEqual({
      reason: "the bug was in the config, fixed",
      hold: 1,
    });
  });

  it("refuses an explicit promotion without a reason, changing nothing", async () => {
    await p.application("noreason");
    const r1 = await p.release("noreason", "1.0.0");
    const refused = await p.api(`/v1/releases/${r1}/channels/production/promote`, { method: "POST", body: {} });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: "request.invalid", errors: [{ path: "reason" }] });
    expect((await p.releaseEvents(r1)).some((e) => e.type === "ExplicitPromotionRequested")).toBe(false);
  });

  it("marks a release bad: it is rolled back everywhere it runs and never promoted again", async () => {
    await p.application("bad", approval);
    const r1 = await toProduction("bad", "1.0.0");
    const r2 = await toProduction("bad", "2.0.0");
    const marked = await p.api(`/v1/releases/${r2}/mark-bad`, {
      method: "POST",
      body: { reason: "corrupts orders", rollback: true },
    });
    expect(marked).toEqual({
      status: 200,
      body: {
        changed: true,
        rolledBack: [
          { channel: "staging", toReleaseId: r1 },
          { channel: "production", toReleaseId: r1 },
        ],
        notRolledBack: [],
      },
    });
    await eventually(
      async () => (await p.convergedOn("bad", "staging", r1, 2)) && (await p.convergedOn("bad", "production", r1, 2)),
    );
    expect((await p.api(`/v1/releases/${r2}`)).body.bad).toEqual({ reason: "corrupts orders" });
    // An explicit promotion is refused too, and marking it again changes nothing.
    expect(
      await p.api(`/v1/releases/${r2}/channels/production/promote`, { method: "POST", body: { reason: "try" } }),
    ).toMatchObject({
      status: 409,
      body: { code: "release.bad" },
    });
    expect(
      (await p.api(`/v1/releases/${r2}/mark-bad`, { method: "POST", body: { reason: "again", rollback: true } })).body,
    ).toMatchObject({
      changed: false,
      rolledBack: [],
    });
    // Nor can a channel be rolled back to it.
    expect(
      await p.api("/v1/applications/bad/channels/staging/rollback", {
        method: "POST",
        body: { service: "bad-api", releaseId: r2 },
      }),
    ).toMatchObject({ status: 409, body: { code: "rollback.bad_release" } });
  });

  it("rolls back a paused channel: pause holds automatic promotion only", async () => {
    await p.application("paused");
    const r1 = await p.release("paused", "1.0.0");
    await eventually(() => p.convergedOn("paused", "staging", r1));
    const r2 = await p.release("paused", "2.0.0");
    await eventually(() => p.convergedOn("paused", "staging", r2));
    expect(
      (await p.api("/v1/applications/paused/channels/staging/pause", { method: "POST", body: { reason: "incident" } }))
        .body,
    ).toEqual({ changed: true });
    const rollback = await p.api("/v1/applications/paused/channels/staging/rollback", {
      method: "POST",
      body: { service: "paused-api", releaseId: r1 },
    });
    expect(rollback).toMatchObject({ status: 200, body: { changed: true } });
    await eventually(() => p.convergedOn("paused", "staging", r1, 2));
  });
});
