import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredEvent } from "../../events/index.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

/**
 * Freezes, deny windows, timed pauses and overrides, end to end through the HTTP API: the local
 * stack runs the same handlers as AWS, with its SQS stand-in delaying the wake-ups.
 */

let p: Pipeline;

beforeAll(async () => {
  p = await openPipeline("freezes");
});

afterAll(async () => {
  await p?.close();
});

const dispatchOf = (events: StoredEvent[], releaseId: string) =>
  events.find((e) => e.type === "InstructionDispatched" && e.data.releaseId === releaseId);
const blockedBy = (events: StoredEvent[], gate: string) =>
  events.filter((e) => e.type === "PreconditionBlocked" && e.data.precondition === gate);

/** An instant written as RFC 3339 at a UTC offset of `minutes` (whole seconds). */
function atOffset(instant: number, minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return `${new Date(instant + minutes * 60_000).toISOString().slice(0, 19)}${offset}`;
}

/** The wall-clock time of day of an instant in a time zone, as HH:MM. */
const clockIn = (instant: number, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(instant),
  );

describe("freezes, deny windows, timed pauses and overrides on the local stack", () => {
  it("holds production during a freeze and deploys there by itself at the freeze's end", async () => {
    const from = atOffset(Date.now() - 3_600_000, 330);
    const freeze = { name: "launch", from, reason: "launch day", channels: ["production"] };
    await p.application("frz", {
      application: { freezes: [{ ...freeze, to: atOffset(Date.now() + 3_600_000, 330) }] },
    });
    const id = await p.release("frz", "1.0.0");
    // Staging is not frozen; production is, until the freeze's end.
    await until(() => p.staging.received(id).length > 0);
    await eventually(async () => blockedBy(await p.releaseEvents(id), "freeze:launch").length > 0);
    const [blocked] = blockedBy(await p.releaseEvents(id), "freeze:launch");
    expect(blocked?.type === "PreconditionBlocked" && blocked.data.reason).toMatch(
      /^frozen by "launch" until .+Z: launch day$/,
    );

    // The freeze is cut short to end in a few seconds: the release goes out at that end, by itself.
    const end = Math.ceil((Date.now() + 3_000) / 1000) * 1000;
    await p.application("frz", { application: { freezes: [{ ...freeze, to: atOffset(end, -300) }] } });
    await until(() => p.production.received(id).length > 0, 30_000);
    const events = await p.releaseEvents(id);
    const dispatched = dispatchOf(await p.channelEvents("frz", "production"), id)!;
    expect(Date.parse(dispatched.occurredAt)).toBeGreaterThanOrEqual(end);
    expect(
      events.find((e) => e.type === "PreconditionSatisfied" && e.data.precondition === "freeze:launch"),
    ).toBeDefined();
    const view = await p.api(`/v1/releases/${id}`);
    expect(
      (view.body.channels as { preconditions: Record<string, unknown> }[])[1]!.preconditions["freeze:launch"],
    ).toEqual({ state: "satisfied" });
  });

  it("holds production inside a deny window around now, in the window's time zone, until it closes", async () => {
    const now = Date.now();
    const timeZone = "Asia/Kolkata";
    const closes = Math.floor((now + 3_600_000) / 60_000) * 60_000;
    await p.application("deny", {
      production: {
        preconditions: [
          {
            deployWindow: {
              days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
              start: clockIn(now - 3_600_000, timeZone),
              end: clockIn(now + 3_600_000, timeZone),
              timeZone,
              deny: true,
            },
          },
        ],
      },
    });
    const id = await p.release("deny", "1.0.0");
    await eventually(async () => blockedBy(await p.releaseEvents(id), "deployWindow:deny").length > 0);
    const [blocked] = blockedBy(await p.releaseEvents(id), "deployWindow:deny");
    expect(blocked?.type === "PreconditionBlocked" && blocked.data).toMatchObject({
      until: new Date(closes).toISOString(),
      reason: expect.stringMatching(/^inside the deny window .* Asia\/Kolkata\); it closes at /),
    });
    expect(p.staging.received(id).length).toBeGreaterThan(0);
    expect(p.production.received(id)).toEqual([]);
  });

  it("resumes a channel paused until a time by itself, and the release waiting there then deploys", async () => {
    await p.application("pzu");
    const past = await p.api("/v1/applications/pzu/channels/staging/pause", {
      method: "POST",
      body: { until: new Date(Date.now() - 1000).toISOString() },
    });
    expect(past).toMatchObject({
      status: 400,
      body: {
        code: "pause.until_not_future",
        errors: [{ path: "until", message: "until must be a time in the future" }],
      },
    });
    const malformed = await p.api("/v1/applications/pzu/channels/staging/pause", {
      method: "POST",
      body: { until: "tomorrow" },
    });
    expect(malformed).toMatchObject({ status: 400, body: { errors: [{ path: "until" }] } });
    expect((await p.channelEvents("pzu", "staging")).filter((e) => e.type === "ChannelPaused")).toEqual([]);

    const resumeAt = new Date(Math.ceil((Date.now() + 3_000) / 1000) * 1000).toISOString();
    const paused = await p.api("/v1/applications/pzu/channels/staging/pause", {
      method: "POST",
      body: { reason: "demo in progress", until: resumeAt },
    });
    expect(paused.body).toEqual({ changed: true });
    await eventually(async () => {
      const view = await p.api("/v1/applications/pzu");
      return (view.body.channels as { paused?: unknown }[])[0]!.paused !== undefined;
    });
    expect(((await p.api("/v1/applications/pzu")).body.channels as { paused?: unknown }[])[0]!.paused).toEqual({
      reason: "demo in progress",
      until: resumeAt,
    });
    const id = await p.release("pzu", "1.0.0");
    const entered = (await p.releaseEvents(id)).find((e) => e.type === "PromotionStarted")!;

    await until(() => p.staging.received(id).length > 0, 30_000);
    const events = await p.channelEvents("pzu", "staging");
    const resumed = events.find((e) => e.type === "ChannelResumed")!;
    expect(resumed).toMatchObject({ data: { until: resumeAt }, actor: { kind: "system", id: "scheduler" } });
    // The release entered while the channel was paused, and was dispatched only after the resume.
    expect(entered.occurredAt < resumed.occurredAt).toBe(true);
    expect(dispatchOf(events, id)!.version).toBeGreaterThan(resumed.version);
    await eventually(async () => {
      const view = await p.api("/v1/applications/pzu");
      return (view.body.channels as { paused?: unknown }[])[0]!.paused === undefined;
    });
  });

  it("deploys past an approval an admin overrode, with who and why in the release view and its history", async () => {
    await p.application("ovr", { production: { preconditions: [{ manualApproval: {} }] } });
    const id = await p.release("ovr", "1.0.0");
    await eventually(async () => blockedBy(await p.releaseEvents(id), "manualApproval:approval").length > 0);
    const override = { gate: "manualApproval:approval", reason: "hotfix for incident 7" };
    const first = await p.api(`/v1/releases/${id}/channels/production/override`, { method: "POST", body: override });
    expect(first).toEqual({ status: 200, body: { changed: true } });
    await until(() => p.production.received(id).length > 0);
    const again = await p.api(`/v1/releases/${id}/channels/production/override`, { method: "POST", body: override });
    expect(again).toEqual({ status: 200, body: { changed: false } });

    type ChannelView = {
      preconditions: Record<string, unknown>;
      approvals: Record<string, { grantedBy: string[] }>;
      overrides?: Record<string, unknown>;
    };
    await eventually(async () => {
      const view = await p.api(`/v1/releases/${id}`);
      return (view.body.channels as ChannelView[])[1]!.preconditions["manualApproval:approval"] !== undefined;
    });
    const productionView = ((await p.api(`/v1/releases/${id}`)).body.channels as ChannelView[])[1]!;
    expect(productionView.preconditions["manualApproval:approval"]).toEqual({
      state: "satisfied",
      note: "overridden by admin: hotfix for incident 7",
    });
    expect(productionView.overrides).toEqual({
      "manualApproval:approval": { by: "admin", reason: "hotfix for incident 7" },
    });
    expect(productionView.approvals.approval?.grantedBy).toEqual([]);
    const history = (await p.api(`/v1/releases/${id}/events`)).body.items as StoredEvent[];
    const overridden = history.findIndex((e) => e.type === "GateOverridden");
    expect(history[overridden]).toMatchObject({
      actor: { id: "admin" },
      data: { channel: "production", gate: "manualApproval:approval", by: "admin", reason: "hotfix for incident 7" },
    });
    const dispatched = history.findIndex(
      (e) => e.type === "InstructionDispatched" && e.streamId.endsWith("/production"),
    );
    expect(dispatched).toBeGreaterThan(overridden);
  });

  it("refuses to override a deploy window, a freeze, or a gate that does not block the release", async () => {
    const opens = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const window = {
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
      start: hhmm(opens),
      end: hhmm(new Date(opens.getTime() + 60 * 60 * 1000)),
      timeZone: "UTC",
    };
    const freeze = {
      name: "audit",
      from: new Date(Date.now() - 60_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      reason: "audit week",
    };
    await p.application("nov", {
      production: { preconditions: [{ deployWindow: window }] },
      application: { freezes: [freeze] },
    });
    const id = await p.release("nov", "1.0.0");
    // Frozen everywhere: even staging waits.
    await eventually(async () => blockedBy(await p.releaseEvents(id), "freeze:audit").length > 0);
    for (const gate of ["freeze:audit", "deployWindow"]) {
      const refused = await p.api(`/v1/releases/${id}/channels/staging/override`, {
        method: "POST",
        body: { gate, reason: "ship it" },
      });
      expect(refused).toMatchObject({
        status: 400,
        body: { code: "override.not_allowed", errors: [{ path: "gate" }] },
      });
    }
    const notBlocking = await p.api(`/v1/releases/${id}/channels/staging/override`, {
      method: "POST",
      body: { gate: "manualApproval:approval", reason: "ship it" },
    });
    expect(notBlocking).toMatchObject({ status: 409, body: { code: "override.not_blocked" } });
    const notEntered = await p.api(`/v1/releases/${id}/channels/production/override`, {
      method: "POST",
      body: { gate: "releaseChannelStable:staging", reason: "ship it" },
    });
    expect(notEntered).toMatchObject({ status: 409, body: { code: "release.not_in_channel" } });
    const noReason = await p.api(`/v1/releases/${id}/channels/staging/override`, {
      method: "POST",
      body: { gate: "freeze:audit" },
    });
    expect(noReason).toMatchObject({ status: 400, body: { errors: [{ path: "reason" }] } });
    expect((await p.releaseEvents(id)).filter((e) => e.type === "GateOverridden")).toEqual([]);
    expect(p.staging.received(id)).toEqual([]);
  });
});
