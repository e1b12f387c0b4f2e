import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { slackSignature } from "../../functions/services/credentials.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

/**
 * The approval policy end to end: who may approve (approvers, the author), quorum from Slack with
 * the message updated on every click, refusals once the release no longer waits, and approvals
 * given before the release reaches the channel. Slack is a local HTTP server that keeps what the
 * incoming webhooks and the `response_url`s were sent.
 */

type Block = { type: string; elements?: { action_id?: string; value?: string; text?: string }[] };
type SlackMessage = { text: string; blocks: Block[]; channel?: string };
type Reply = SlackMessage & { replace_original: boolean; response_type?: string };

let slack: Server;
let slackUrl: string;
/** Incoming-webhook posts, by path; answers to clicks, by response_url path. */
const posts: { path: string; message: SlackMessage }[] = [];
const replies = new Map<string, Reply>();
/** The per-application webhook's path holds its secret part, which must never be logged. */
const SECRET = "XXXXhooksecret";

let p: Pipeline;
/** API keys allowed to approve, by name. */
const keys: Record<string, string> = {};
const logged: string[] = [];

beforeAll(async () => {
  for (const method of ["log", "error", "warn", "info"] as const) {
    const original = console[method].bind(console);
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
      original(...args);
    });
  }
  slack = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const path = req.url ?? "";
      if (path.startsWith("/respond/")) replies.set(path.slice("/respond/".length), JSON.parse(body) as Reply);
      else posts.push({ path, message: JSON.parse(body) as SlackMessage });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => slack.listen(0, "127.0.0.1", () => r()));
  slackUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}`;
  process.env.SLIPWAY_SLACK_WEBHOOK_URL = `${slackUrl}/hooks/global`;
  p = await openPipeline("approvals");
  for (const name of ["alice", "bob", "mallory"]) {
    const issued = await p.api("/v1/api-keys", { method: "POST", body: { name, scopes: ["approve", "read"] } });
    expect(issued.status).toBe(201);
    keys[name] = issued.body.key as string;
  }
});

afterAll(async () => {
  await p?.close();
  slack?.close();
  vi.restoreAllMocks();
});

/** An application of its own per test, production behind the given approval (or approvals). */
const application = (name: string, approval: object | object[], extra: object = {}) =>
  p.application(name, {
    production: {
      preconditions: (Array.isArray(approval) ? approval : [approval]).map((a) => ({ manualApproval: a })),
    },
    application: extra,
  });

const approvalsOf = async (id: string) =>
  (await p.releaseEvents(id)).flatMap((e) => (e.type === "ApprovalGranted" ? [e.data.approver] : []));

/** The approval request posted for a release, once it is. */
async function requestFor(id: string, path: string): Promise<SlackMessage> {
  // The application's webhook hears of outcomes too; the request is the message asking for approval.
  const find = () =>
    posts.find(
      (post) => post.path === path && post.message.text.startsWith("Approval needed") && post.message.text.includes(id),
    );
  await until(() => find() !== undefined);
  return find()!.message;
}

/** A signed click on one of a message's buttons, by a Slack user, answered through `respond/<reply>`. */
async function click(
  message: SlackMessage,
  user: { id: string; username: string },
  action: "slipway_approve" | "slipway_reject",
  reply: string,
) {
  const button = message.blocks.find((b) => b.type === "actions")!.elements!.find((e) => e.action_id === action)!;
  const form = new URLSearchParams({
    payload: JSON.stringify({
      type: "block_actions",
      user,
      actions: [{ action_id: action, value: button.value }],
      response_url: `${slackUrl}/respond/${reply}`,
    }),
  }).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await fetch(`${p.stack.httpUrl}/v1/callbacks/slack`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": slackSignature(p.secrets.slackSigningSecret, timestamp, form),
    },
    body: form,
  });
  expect(res.status).toBe(200);
  return { answer: (await res.json()) as { text: string; response_type?: string }, reply: replies.get(reply)! };
}

const buttonsOf = (m: SlackMessage) =>
  m.blocks.find((b) => b.type === "actions")?.elements?.map((e) => e.action_id) ?? [];
const statusOf = (m: SlackMessage) => m.blocks.find((b) => b.type === "context")?.elements?.[0]?.text;

const alice = { id: "U0ALICE", username: "alice" };
const bob = { id: "U0BOB", username: "bob" };
const carol = { id: "U0CAROL", username: "carol" };
const dave = { id: "U0DAVE", username: "dave" };

describe("the approval policy, end to end on the local stack", () => {
  it("reaches a quorum of two from Slack, updating the message on every click and refusing the author and strangers", async () => {
    const hook = `/hooks/quorum/T000/${SECRET}`;
    await application(
      "quorum",
      { minApprovers: 2, approvers: ["slack:U0ALICE", "slack:U0BOB", "slack:U0CAROL"] },
      { notifications: { slack: { webhookUrl: `${slackUrl}${hook}`, channel: "#deploys" } } },
    );
    const id = await p.release("quorum", "1.0.0", { author: "slack:U0CAROL" });

    // The request goes to the application's own webhook and channel, not the global one.
    const request = await requestFor(id, hook);
    expect(request.channel).toBe("#deploys");
    expect(posts.some((post) => post.path === "/hooks/global" && post.message.text.includes(id))).toBe(false);
    expect(buttonsOf(request)).toEqual(["slipway_approve", "slipway_reject"]);

    // Alice: 1 of 2, the buttons stay.
    const first = await click(request, alice, "slipway_approve", "q1");
    expect(first.answer.text).toContain("alice approved");
    expect(first.reply).toMatchObject({ replace_original: true });
    expect(statusOf(first.reply)).toBe("1 of 2: <@U0ALICE>");
    expect(buttonsOf(first.reply)).toEqual(["slipway_approve", "slipway_reject"]);

    // Alice again, from the updated message: still one approval.
    const again = await click(first.reply, alice, "slipway_approve", "q2");
    expect(statusOf(again.reply)).toBe("1 of 2: <@U0ALICE>");
    expect(await approvalsOf(id)).toEqual(["slack:U0ALICE"]);

    // Carol wrote the release; Dave is not an approver. Each is told alone; the message stays as it was.
    const author = await click(first.reply, carol, "slipway_approve", "q3");
    expect(author.answer).toMatchObject({ response_type: "ephemeral" });
    expect(author.reply).toMatchObject({ replace_original: false, response_type: "ephemeral" });
    expect(author.reply.text).toContain("is the author of release");
    const stranger = await click(first.reply, dave, "slipway_approve", "q4");
    expect(stranger.reply).toMatchObject({ replace_original: false, response_type: "ephemeral" });
    expect(stranger.reply.text).toContain("slack:U0DAVE is not one of the approvers");
    expect(await approvalsOf(id)).toEqual(["slack:U0ALICE"]);
    expect(p.production.received(id)).toEqual([]);

    // Bob makes two: the outcome replaces the buttons, and production deploys.
    const second = await click(first.reply, bob, "slipway_approve", "q5");
    expect(second.reply).toMatchObject({ replace_original: true });
    expect(buttonsOf(second.reply)).toEqual([]);
    expect(statusOf(second.reply)).toBe(":white_check_mark: Approved, 2 of 2: <@U0ALICE>, <@U0BOB>");
    await until(() => p.production.received(id).length > 0);

    // Once deployed there, approvals are refused — from the API and from a stale message — and nothing is appended.
    await eventually(async () =>
      (await p.channelEvents("quorum", "production")).some((e) => e.type === "InstructionDispatched"),
    );
    const before = (await p.releaseEvents(id)).length;
    const late = await p.api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(late).toMatchObject({
      status: 409,
      body: {
        code: "approval.not_pending",
        releaseState: "deployed",
        detail: expect.stringContaining("deployed there"),
      },
    });
    const stale = await click(request, carol, "slipway_reject", "q6");
    expect(stale.reply).toMatchObject({ replace_original: true });
    expect(buttonsOf(stale.reply)).toEqual([]);
    expect(statusOf(stale.reply)).toContain("it was deployed there");
    expect((await p.releaseEvents(id)).length).toBe(before);
  });

  it("refuses API approvals from keys not on the list and from the release's author, with 403s naming the rule", async () => {
    await application("policy", { approvers: ["alice", "bob"] });
    const refused = await p.webhook({ application: "policy", service: "policy-api", author: "a".repeat(257) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["author"]);
    const id = await p.release("policy", "1.0.0", { author: "alice" });
    await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    const approve = (as: string) =>
      p.api(`/v1/releases/${id}/channels/production/approvals`, {
        method: "POST",
        body: { decision: "approve" },
        key: keys[as],
      });

    expect(await approve("mallory")).toMatchObject({ status: 403, body: { code: "approval.not_an_approver" } });
    const self = await approve("alice");
    expect(self).toMatchObject({ status: 403, body: { code: "approval.self_approval" } });
    expect(self.body.detail).toBe(
      `alice is the author of release ${id} and may not approve it (allowSelfApproval is off)`,
    );
    expect(await approvalsOf(id)).toEqual([]);
    expect((await p.api(`/v1/releases/${id}`)).body.author).toBe("alice");
    // No key may pass for a Slack user on a list of approvers.
    const impostor = await p.api("/v1/api-keys", {
      method: "POST",
      body: { name: "slack:U0ALICE", scopes: ["approve"] },
    });
    expect(impostor).toMatchObject({ status: 400, body: { errors: [{ path: "name" }] } });

    expect(await approve("bob")).toMatchObject({
      status: 200,
      body: { state: "approved", grantedBy: ["bob"], requested: true },
    });
    await until(() => p.production.received(id).length > 0);
  });

  it("counts approvals given before the release reached the channel once it gets there", async () => {
    // No notifications of its own: requests go to SLIPWAY_SLACK_WEBHOOK_URL.
    await application("early", { minApprovers: 2 });
    const paused = await p.api("/v1/applications/early/channels/staging/pause", { method: "POST", body: {} });
    expect(paused.status).toBe(200);
    const id = await p.release("early", "1.0.0");

    const pre = await p.api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
      key: keys.alice,
    });
    expect(pre).toMatchObject({
      status: 200,
      body: { state: "pending", grantedBy: ["alice"], minApprovers: 2, requested: false },
    });
    type ChannelView = { name: string; started: boolean; approvals: object };
    const production = async () => ((await p.api(`/v1/releases/${id}`)).body.channels as ChannelView[])[1]!;
    expect(await production()).toMatchObject({
      started: false,
      approvals: { approval: { requested: false, grantedBy: ["alice"] } },
    });

    // Staging deploys; the release reaches production, where the request shows the approval given in advance.
    expect((await p.api("/v1/applications/early/channels/staging/resume", { method: "POST" })).status).toBe(200);
    const request = await requestFor(id, "/hooks/global");
    expect(statusOf(request)).toBe("1 of 2: alice");
    expect(buttonsOf(request)).toEqual(["slipway_approve", "slipway_reject"]);
    expect(await production()).toMatchObject({
      started: true,
      approvals: { approval: { requested: true, minApprovers: 2, grantedBy: ["alice"] } },
    });
    expect(p.production.received(id)).toEqual([]);

    const second = await click(request, bob, "slipway_approve", "e1");
    expect(statusOf(second.reply)).toBe(":white_check_mark: Approved, 2 of 2: alice, <@U0BOB>");
    await until(() => p.production.received(id).length > 0);
  });

  it("asks nobody for an approval given in full in advance, and counts it when the release gets there", async () => {
    await application("ahead", [{ name: "cab" }, { name: "qa" }]);
    const paused = await p.api("/v1/applications/ahead/channels/staging/pause", { method: "POST", body: {} });
    expect(paused.status).toBe(200);
    const id = await p.release("ahead", "1.0.0");
    expect(
      await p.api(`/v1/releases/${id}/channels/production/approvals`, {
        method: "POST",
        body: { decision: "approve", approval: "cab" },
        key: keys.bob,
      }),
    ).toMatchObject({ status: 200, body: { approval: "cab", state: "approved", requested: false } });
    expect((await p.api("/v1/applications/ahead/channels/staging/resume", { method: "POST" })).status).toBe(200);

    // Both are requested, cab first; the reactor announces them in that order, so once qa's message is
    // there, cab's turn has passed — and it posted nothing, as cab needs nobody.
    const qa = await requestFor(id, "/hooks/global");
    const approvalOf = (m: SlackMessage) =>
      (JSON.parse(m.blocks.find((b) => b.type === "actions")!.elements![0]!.value!) as { approval: string }).approval;
    expect(approvalOf(qa)).toBe("qa");
    expect(posts.filter((post) => post.message.text.includes(id)).map((post) => approvalOf(post.message))).toEqual([
      "qa",
    ]);
    const events = (await p.releaseEvents(id)).map((e) => e.type);
    expect(events.indexOf("ApprovalGranted")).toBeLessThan(events.indexOf("ApprovalRequested"));
    expect(p.production.received(id)).toEqual([]);

    await click(qa, alice, "slipway_approve", "a1");
    await until(() => p.production.received(id).length > 0);
  });

  it("never logs an application's Slack webhook", () => {
    expect(posts.some((post) => post.path.includes(SECRET))).toBe(true);
    expect(logged.filter((line) => line.includes(SECRET))).toEqual([]);
  });
});
