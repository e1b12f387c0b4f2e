import { describe, expect, it } from "vitest";
import {
  age,
  duration,
  gateChip,
  paramText,
  shortId,
  waitingTone,
  words,
} from "../../functions/routes/dashboard/model.js";
import type { GateState } from "../../functions/services/dashboard.js";

/** How the dashboard says what a gate, a param or a time is: the words and signals on the page. */

const blocked = (key: string, reason: string, until?: string, extra: Partial<GateState> = {}): GateState => ({
  key,
  result: { state: "blocked", reason, ...(until ? { until } : {}) },
  ...extra,
});

describe("gate chips", () => {
  it("shows a soak with the instant its countdown runs to", () => {
    const chip = gateChip(
      blocked(
        "releaseChannelStable:staging",
        'release channel "staging" must stay healthy for 10m (since …); the soak ends at 2026-12-03T10:10:00Z',
        "2026-12-03T10:10:00Z",
      ),
    );
    expect(chip).toMatchObject({ tone: "waiting", label: "soak", text: "staging stable; ends in" });
    expect(chip.until).toBe("2026-12-03T10:10:00Z");
    expect(chip.title).toContain("must stay healthy");
  });

  it("shows an upstream that has not converged, or failed, without a countdown", () => {
    expect(gateChip(blocked("releaseChannelStable:staging", "… has not converged … yet"))).toMatchObject({
      tone: "waiting",
      text: "waiting for staging",
    });
    expect(gateChip(blocked("releaseChannelStable:staging", "release r failed in release channel …"))).toMatchObject({
      tone: "failed",
    });
  });

  it("counts approvals and names who gave them", () => {
    const chip = gateChip(
      blocked("manualApproval:approval", "waiting…", undefined, {
        approval: { requested: true, minApprovers: 2, grantedBy: ["alice"] },
      }),
    );
    expect(chip).toMatchObject({ label: "approval", text: "1 of 2: alice" });
    const named = gateChip(
      blocked("manualApproval:security", "waiting…", undefined, { approval: { requested: true, grantedBy: [] } }),
    );
    expect(named).toMatchObject({ label: 'approval "security"', text: "0 of 1" });
    const rejected = gateChip(
      blocked("manualApproval:approval", "rejected", undefined, {
        approval: { requested: true, grantedBy: [], rejected: { approver: "bob" } },
      }),
    );
    expect(rejected).toMatchObject({ tone: "failed", text: "rejected by bob" });
  });

  it("says when a deploy window opens or a deny window closes, and until when a freeze holds", () => {
    expect(
      gateChip(blocked("deployWindow:office", "outside the deploy window …", "2026-12-04T08:00:00Z")),
    ).toMatchObject({ label: "window", text: "opens at 2026-12-04 08:00 UTC" });
    expect(gateChip(blocked("deployWindow:night", "inside the deny window …", "2026-12-04T06:00:00Z"))).toMatchObject({
      label: "deny window",
      text: "closes at 2026-12-04 06:00 UTC",
    });
    expect(gateChip(blocked("freeze:holidays", 'frozen by "holidays" until …', "2027-01-02T00:00:00Z"))).toMatchObject({
      tone: "frozen",
      label: "freeze",
      text: "until 2027-01-02 00:00 UTC",
    });
  });

  it("shows a passed gate as passed", () => {
    expect(gateChip({ key: "manualApproval:approval", result: { state: "satisfied" } })).toMatchObject({
      tone: "ok",
      text: "approval: passed",
    });
  });

  it("calls a release held by a freeze frozen, and any other waiting", () => {
    expect(waitingTone([blocked("freeze:x", "frozen"), blocked("manualApproval:approval", "w")])).toBe("frozen");
    expect(waitingTone([blocked("manualApproval:approval", "w")])).toBe("waiting");
    expect(waitingTone([{ key: "freeze:x", result: { state: "satisfied" } }])).toBe("waiting");
  });
});

describe("words for ids, params and times", () => {
  it("says state names in words", () => {
    expect(words("rolledBack")).toBe("rolled back");
    expect(words("converged")).toBe("converged");
  });

  it("shortens a release id to the part where ids differ", () => {
    expect(shortId("rel-0mx7au53te05a8ba088")).toBe("05a8ba088".slice(-8));
    expect(shortId("r1")).toBe("r1");
  });

  it("shows an image by its tag or digest, and long values trimmed", () => {
    expect(paramText("registry.example.com/shop/api:1.4.2")).toBe("1.4.2");
    expect(paramText("registry.example.com:5000/shop/api:1.4.2")).toBe("1.4.2");
    expect(paramText(`registry.example.com/shop/api@sha256:${"ab".repeat(32)}`)).toBe("sha256:abababababab");
    expect(paramText("plain")).toBe("plain");
    expect(paramText("x".repeat(60))).toHaveLength(40);
    expect(paramText(3)).toBe("3");
  });

  it("says how long at the precision a person reads", () => {
    expect(duration(42_000)).toBe("42s");
    expect(duration(200_000)).toBe("3m 20s");
    expect(duration(2 * 3600_000 + 5 * 60_000)).toBe("2h 5m");
    expect(duration(-5)).toBe("0s");
    expect(age("2026-12-03T10:00:00Z", Date.parse("2026-12-03T10:05:30Z"))).toBe("5m ago");
    expect(age("2026-12-03T10:00:00Z", Date.parse("2026-12-03T10:00:02Z"))).toBe("just now");
  });
});
