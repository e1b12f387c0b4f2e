import { describe, expect, it } from "vitest";
import {
  evaluateChannelGates,
  evaluatePrecondition,
  nextEvaluation,
  Precondition,
  preconditionKey,
  ReleaseChannel,
  type GateContext,
} from "../../core/index.js";

const base: GateContext = { now: "2026-11-23T10:00:00.000Z", releaseId: "r1", upstream: {}, approvals: {} };
const stable = (duration?: string) =>
  Precondition.parse({ releaseChannelStable: { releaseChannel: "staging", ...(duration ? { duration } : {}) } });
const approval = (minApprovers = 1, name?: string) =>
  Precondition.parse({ manualApproval: { minApprovers, ...(name ? { name } : {}) } });
const window = (w: object) => Precondition.parse({ deployWindow: w });
const weekdays = { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00", timeZone: "Europe/Berlin" };

describe("releaseChannelStable", () => {
  it("blocks until the release has converged upstream, with nothing to wait for on the clock", () => {
    expect(evaluatePrecondition(stable("10m"), base)).toEqual({
      state: "blocked",
      reason: 'release r1 has not converged in release channel "staging" yet',
    });
    expect(
      evaluatePrecondition(stable("10m"), {
        ...base,
        upstream: { staging: { releaseId: "r0", healthySince: "2026-11-23T09:00:00.000Z" } },
      }).state,
    ).toBe("blocked");
  });

  it("waits until exactly the end of the soak, then is satisfied", () => {
    const ctx = { ...base, upstream: { staging: { releaseId: "r1", healthySince: "2026-11-23T09:55:00.000Z" } } };
    expect(evaluatePrecondition(stable("10m"), ctx)).toEqual({
      state: "blocked",
      reason:
        'release channel "staging" must stay healthy for 10m (since 2026-11-23T09:55:00.000Z); the soak ends at 2026-11-23T10:05:00.000Z',
      until: "2026-11-23T10:05:00.000Z",
    });
    expect(evaluatePrecondition(stable("10m"), { ...ctx, now: "2026-11-23T10:05:00.000Z" })).toEqual({
      state: "satisfied",
    });
    expect(evaluatePrecondition(stable(), ctx)).toEqual({ state: "satisfied" });
  });
});

describe("manualApproval", () => {
  it("counts distinct approvers against the minimum", () => {
    expect(evaluatePrecondition(approval(), base)).toEqual({
      state: "blocked",
      reason: 'waiting for approval "approval": 0 of 1 approver',
    });
    const one = { ...base, approvals: { approval: { requested: true, minApprovers: 2, grantedBy: ["alice"] } } };
    expect(evaluatePrecondition(approval(2), one)).toEqual({
      state: "blocked",
      reason: 'waiting for approval "approval": 1 of 2 approvers (alice)',
    });
    expect(
      evaluatePrecondition(approval(2), {
        ...base,
        approvals: { approval: { requested: true, minApprovers: 2, grantedBy: ["alice", "bob"] } },
      }),
    ).toEqual({ state: "satisfied" });
  });

  it("stays blocked after a rejection, naming who and why", () => {
    const ctx = {
      ...base,
      approvals: {
        cab: {
          requested: true,
          minApprovers: 1,
          grantedBy: ["alice"],
          rejected: { approver: "carol", comment: "error rate up" },
        },
      },
    };
    expect(evaluatePrecondition(approval(1, "cab"), ctx)).toEqual({
      state: "blocked",
      reason: 'approval "cab" was rejected by carol: error rate up',
    });
  });
});

describe("deployWindow", () => {
  it("is satisfied inside the window, in the window's time zone", () => {
    // Monday 10:00 UTC is 11:00 in Berlin (CET).
    expect(evaluatePrecondition(window(weekdays), base)).toEqual({ state: "satisfied" });
    // Monday 16:30 UTC is 17:30 in Berlin: closed.
    expect(evaluatePrecondition(window(weekdays), { ...base, now: "2026-11-23T16:30:00.000Z" }).state).toBe("blocked");
  });

  it("waits until the next opening, across a weekend", () => {
    const saturday = { ...base, now: "2026-11-28T12:00:00.000Z" };
    expect(evaluatePrecondition(window(weekdays), saturday)).toEqual({
      state: "blocked",
      reason:
        "outside the deploy window (mon, tue, wed, thu, fri 09:00–17:00 Europe/Berlin); it opens at 2026-11-30T08:00:00.000Z",
      until: "2026-11-30T08:00:00.000Z",
    });
    const earlyTuesday = { ...base, now: "2026-11-24T06:00:00.000Z" };
    expect(evaluatePrecondition(window(weekdays), earlyTuesday)).toMatchObject({ until: "2026-11-24T08:00:00.000Z" });
  });

  it("handles windows that span midnight", () => {
    const night = window({ days: ["fri"], start: "22:00", end: "02:00", timeZone: "UTC" });
    expect(evaluatePrecondition(night, { ...base, now: "2026-11-27T23:00:00.000Z" }).state).toBe("satisfied");
    expect(evaluatePrecondition(night, { ...base, now: "2026-11-28T01:59:00.000Z" }).state).toBe("satisfied");
    expect(evaluatePrecondition(night, { ...base, now: "2026-11-28T02:00:00.000Z" })).toMatchObject({
      state: "blocked",
      until: "2026-12-04T22:00:00.000Z",
    });
    expect(evaluatePrecondition(night, { ...base, now: "2026-11-27T01:00:00.000Z" }).state).toBe("blocked");
  });

  it("finds the opening in local time across a daylight-saving change", () => {
    // New York springs forward on Sunday 8 March 2026; Monday 09:00 EDT is 13:00 UTC, not 14:00.
    const ny = window({ days: ["mon"], start: "09:00", end: "10:00", timeZone: "America/New_York" });
    expect(evaluatePrecondition(ny, { ...base, now: "2026-03-07T12:00:00.000Z" })).toMatchObject({
      until: "2026-03-09T13:00:00.000Z",
    });
    // A week earlier, still on EST, the same window opens at 14:00 UTC.
    expect(evaluatePrecondition(ny, { ...base, now: "2026-03-02T13:30:00.000Z" })).toMatchObject({
      until: "2026-03-02T14:00:00.000Z",
    });
    expect(evaluatePrecondition(ny, { ...base, now: "2026-03-02T15:00:00.000Z" })).toMatchObject({
      until: "2026-03-09T13:00:00.000Z",
    });
    expect(evaluatePrecondition(ny, { ...base, now: "2026-03-02T14:30:00.000Z" }).state).toBe("satisfied");
  });
});

describe("a channel's gates", () => {
  const production = ReleaseChannel.parse({
    name: "production",
    runtimes: [{ runtime: "k8s-production" }],
    preconditions: [
      { releaseChannelStable: { releaseChannel: "staging", duration: "10m" } },
      { manualApproval: {} },
      { deployWindow: weekdays },
    ],
  });

  it("evaluates every gate under a stable key and finds the earliest time one can change", () => {
    const ctx = {
      ...base,
      now: "2026-11-28T12:00:00.000Z",
      upstream: { staging: { releaseId: "r1", healthySince: "2026-11-28T11:55:00.000Z" } },
    };
    const gates = evaluateChannelGates(production, ctx);
    expect(gates.map((g) => [g.key, g.result.state])).toEqual([
      ["releaseChannelStable:staging", "blocked"],
      ["manualApproval:approval", "blocked"],
      ["deployWindow", "blocked"],
    ]);
    expect(nextEvaluation(gates)).toBe("2026-11-28T12:05:00.000Z");
    expect(nextEvaluation(gates.slice(1, 2))).toBeUndefined();
    expect(preconditionKey(approval(1, "cab"))).toBe("manualApproval:cab");
  });
});
