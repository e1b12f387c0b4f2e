import { describe, expect, it } from "vitest";
import type { Viewer } from "../../functions/routes/dashboard/layout.js";
import { ReleasePageView } from "../../functions/routes/dashboard/pages.js";
import type { ReleasePage } from "../../functions/services/dashboard.js";

/** The release page offers only the actions the API would take. */

const viewer: Viewer = {
  principal: { actor: { kind: "user", id: "admin" }, scopes: ["admin"] },
  csrf: "t",
  now: Date.parse("2026-12-24T12:00:00Z"),
};
const blocked = (reason: string, until?: string) => ({
  state: "blocked" as const,
  reason,
  ...(until ? { until } : {}),
});

const page = {
  release: {
    releaseId: "rel-1",
    status: "active",
    application: "shop",
    service: "api",
    params: {},
    cause: "ci",
    channels: [
      {
        name: "production",
        started: true,
        deployment: "none",
        waiting: ["held"],
        approvals: { approval: { requested: true, grantedBy: [] } },
        preconditions: {
          "manualApproval:approval": blocked("waiting for approval"),
          "freeze:holidays": blocked("frozen", "2026-12-27T00:00:00Z"),
          "deployWindow:office": blocked("outside the deploy window", "2026-12-28T08:00:00Z"),
        },
      },
    ],
  },
  timeline: [],
  channels: [{ name: "production", instructions: [], runningHere: false, rollbackTargets: [] }],
} as unknown as ReleasePage;

describe("the release page", () => {
  it("offers to override only gates an admin may override", async () => {
    const html = String(await ReleasePageView({ viewer, page }));
    const select = /<select id="gate-0" name="gate">([\s\S]*?)<\/select>/.exec(html)?.[1] ?? "";
    const offered = [...select.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);
    expect(offered).toEqual(["manualApproval:approval"]);
    // The freeze and the window still show, with their reasons.
    expect(html).toContain("frozen");
    expect(html).toContain("outside the deploy window");
  });
});
