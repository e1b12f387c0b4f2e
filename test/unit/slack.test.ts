import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { parseDocuments } from "../../core/index.js";
import { approvalRequestMessage, postToSlack, slackName } from "../../functions/adapters/slack.js";
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

describe("Slack approval messages as the approval goes on", () => {
  type Block = { type: string; elements?: { action_id?: string; text?: string }[]; text?: { text: string } };
  const message = (status: Parameters<typeof approvalRequestMessage>[0]["status"]) =>
    approvalRequestMessage({
      release: release("r2", { image: "registry/api:1.5.0" }),
      channel: "production",
      approval: "approval",
      minApprovers: 2,
      ...(status ? { status } : {}),
    });
  const blocks = (m: ReturnType<typeof message>) => m.blocks as Block[];
  const buttons = (m: ReturnType<typeof message>) =>
    blocks(m)
      .find((b) => b.type === "actions")
      ?.elements?.map((e) => e.action_id);
  const status = (m: ReturnType<typeof message>) => blocks(m).find((b) => b.type === "context")?.elements?.[0]?.text;

  it("keeps the buttons while pending, with who approved so far", () => {
    const m = message({ state: "pending", grantedBy: ["slack:U0ALICE"], needed: 2 });
    expect(status(m)).toBe("1 of 2: <@U0ALICE>");
    expect(buttons(m)).toEqual(["slipway_approve", "slipway_reject"]);
    expect(m.text).toBe("Approval needed: shop/api release r2 to production");
    expect(status(message({ state: "pending", grantedBy: [], needed: 2 }))).toBeUndefined();
  });

  it("replaces the buttons with the outcome once decided, or once the release no longer waits", () => {
    const approved = message({ state: "approved", grantedBy: ["slack:U0ALICE", "release-bot"], needed: 2 });
    expect(buttons(approved)).toBeUndefined();
    expect(status(approved)).toBe(":white_check_mark: Approved, 2 of 2: <@U0ALICE>, release-bot");
    expect(approved.text).toContain("Approved, 2 of 2");
    const rejected = message({ state: "rejected", by: "slack:U0CAROL", comment: "error rate <up>" });
    expect(buttons(rejected)).toBeUndefined();
    expect(status(rejected)).toBe(":x: Rejected by <@U0CAROL>: error rate &lt;up&gt;");
    const closed = message({ state: "closed", why: "it was deployed there" });
    expect(buttons(closed)).toBeUndefined();
    expect(status(closed)).toBe(":no_entry_sign: it was deployed there");
  });

  it("shows Slack users as mentions and API keys by name, escaped", () => {
    expect(slackName("slack:U024BE7LH")).toBe("<@U024BE7LH>");
    expect(slackName("ci <bot>")).toBe("ci &lt;bot&gt;");
  });
});

describe("per-application Slack settings", () => {
  const app = (notifications: unknown) => ({
    application: {
      name: "shop",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }] }],
      notifications,
    },
  });
  const secret = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

  it("takes an https webhook and an optional channel", () => {
    const parsed = parseDocuments([app({ slack: { webhookUrl: secret, channel: "#deploys" } })]);
    expect(parsed.ok && parsed.objects[0]?.spec).toMatchObject({
      notifications: { slack: { webhookUrl: secret, channel: "#deploys" } },
    });
    expect(parseDocuments([app({ slack: { webhookUrl: "http://127.0.0.1:9/hook" } })]).ok).toBe(true);
  });

  it("refuses other URLs and shapes, naming the field and never repeating the URL", () => {
    const cases = [
      { slack: { webhookUrl: "http://hooks.slack.com/services/T000/B000/XXXXSECRET" } },
      { slack: { webhookUrl: "not a url XXXXSECRET" } },
      { slack: secret },
      { slack: { webhookUrl: secret, channel: "deploys and more" } },
    ];
    for (const notifications of cases) {
      const result = parseDocuments([app(notifications)]);
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.issues[0]?.path).toMatch(/^application\.notifications\.slack/);
      expect(JSON.stringify(result.issues)).not.toContain("XXXXSECRET");
    }
  });

  it("posts without ever naming the webhook URL in an error", async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 404;
      res.end("no_service");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    const hook = `http://127.0.0.1:${port}/services/T000/B000/XXXXSECRET`;
    try {
      await expect(postToSlack(hook, { text: "hi" })).rejects.toThrow("Slack's incoming webhook answered 404");
    } finally {
      server.close();
    }
    const unreachable = await postToSlack(`http://127.0.0.1:${port}/services/XXXXSECRET`, {}).catch((e: Error) => e);
    expect(unreachable).toBeInstanceOf(Error);
    expect(String((unreachable as Error).stack)).not.toContain("XXXXSECRET");
    expect((unreachable as Error).message).toMatch(/could not be reached/);
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
