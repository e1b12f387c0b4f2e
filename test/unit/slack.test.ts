import { describe, expect, it } from "vitest";
import { approvalRequestMessage } from "../../functions/adapters/slack.js";
import { slackSignature, slackSignatureProblem } from "../../functions/services/credentials.js";

const release = (releaseId: string, params: Record<string, string | number>) => ({
  releaseId,
  application: "shop",
  service: "api",
  params,
  source: { commit: "3f9c2e1a7b7d", branch: "main" },
  channels: ["staging", "production"],
  configVersions: { application: 1, service: 1 },
});

describe("Slack approval messages", () => {
  it("shows the params that change against what runs in the channel, and both buttons", () => {
    const message = approvalRequestMessage({
      release: release("r2", { image: "registry/api:1.5.0", replicas: 3 }),
      current: release("r1", { image: "registry/api:1.4.2", replicas: 3 }),
      channel: "production",
      approval: "approval",
      minApprovers: 2,
    });
    expect(message.text).toBe("Approval needed: shop/api release r2 to production");
    const fields = (message.blocks[1] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toEqual([
      "*Release*\n`r2`",
      "*Approval*\napproval",
      "*image*\n`registry/api:1.4.2` → `registry/api:1.5.0`",
    ]);
    const actions = message.blocks[2] as { elements: { action_id: string; value: string }[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(["slipway_approve", "slipway_reject"]);
    expect(JSON.parse(actions.elements[0]!.value)).toEqual({
      releaseId: "r2",
      channel: "production",
      approval: "approval",
    });
    expect((message.blocks[0] as { text: { text: string } }).text.text).toContain("(2 approvers)");
  });

  it("shows every param for a first release", () => {
    const message = approvalRequestMessage({
      release: release("r1", { image: "registry/api:1.4.2" }),
      channel: "production",
      approval: "approval",
      minApprovers: 1,
    });
    expect((message.blocks[1] as { fields: { text: string }[] }).fields.at(-1)?.text).toBe(
      "*image*\n`registry/api:1.4.2`",
    );
  });
});

describe("Slack signatures", () => {
  const now = new Date("2026-11-23T10:00:00.000Z");
  const ts = String(now.getTime() / 1000);
  it("accepts a fresh signature over the exact body", () => {
    expect(
      slackSignatureProblem("secret", ts, slackSignature("secret", ts, "payload=x"), "payload=x", now),
    ).toBeUndefined();
  });
  it("refuses old timestamps, other bodies, other secrets and missing headers", () => {
    const old = String(now.getTime() / 1000 - 301);
    expect(slackSignatureProblem("secret", old, slackSignature("secret", old, "b"), "b", now)).toMatch(
      /older than five minutes/,
    );
    expect(slackSignatureProblem("secret", ts, slackSignature("secret", ts, "b"), "c", now)).toMatch(/does not match/);
    expect(slackSignatureProblem("secret", ts, slackSignature("other", ts, "b"), "b", now)).toMatch(/does not match/);
    expect(slackSignatureProblem("secret", undefined, "v0=abc", "b", now)).toMatch(/required/);
  });
});
