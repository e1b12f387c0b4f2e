import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { streams } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { signBody, slackSignature } from "../../functions/services/credentials.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { until } from "../support/wait.js";

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

let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
const agents: FakeAgent[] = [];
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
  stack = await startLocalStack({ stage: "approvals" });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
  expect((await api("/v1/configs", { method: "PUT", body: [docs.staging, docs.production] })).status).toBe(200);
  for (const name of ["alice", "bob", "mallory"]) {
    const issued = await api("/v1/api-keys", { method: "POST", body: { name, scopes: ["approve", "read"] } });
    expect(issued.status).toBe(201);
    keys[name] = issued.body.key as string;
  }
  for (const runtime of ["k8s-staging", "k8s-production"]) {
    const { token } = (await api(`/v1/runtimes/${runtime}/link`, { method: "POST" })).body as { token: string };
    const agent = new FakeAgent(stack.wsUrl, runtime, token);
    agents.push(agent);
    await agent.connect();
  }
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await stack?.stop();
  slack?.close();
  vi.restoreAllMocks();
});

async function api(path: string, init: { method?: string; body?: unknown; as?: string } = {}) {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${init.as ? keys[init.as] : secrets.adminApiKey}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An application of its own per test, production behind the given approval (or approvals). */
async function application(name: string, approval: object | object[], extra: object = {}) {
  const app = {
    application: {
      name,
      releaseChannels: [
        { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
        {
          name: "production",
          runtimes: [{ runtime: "k8s-production" }],
          preconditions: (Array.isArray(approval) ? approval : [approval]).map((a) => ({ manualApproval: a })),
          constants: { replicas: 3 },
        },
      ],
      ...extra,
    },
  };
  const service = { service: { ...docs.api.service, name: `${name}-api`, application: name } };
  expect((await api("/v1/configs", { method: "PUT", body: [app, service] })).status).toBe(200);
}

async function release(app: string, author?: string): Promise<string> {
  const body = JSON.stringify({
    application: app,
    service: `${app}-api`,
    params: { image: `registry.example.com/${app}/api:1.0.0` },
    ...(author ? { author } : {}),
  });
  const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-slipway-signature-256": signBody(secrets.webhookSecret, body) },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { releaseId: string }).releaseId;
}

const releaseEvents = (id: string): Promise<StoredEvent[]> => store.read(streams.release(id));
const approvalsOf = async (id: string) =>
  (await releaseEvents(id)).flatMap((e) => (e.type === "ApprovalGranted" ? [e.data.approver] : []));
const received = (runtime: string, id: string) =>
  agents.find((a) => a.runtime === runtime)!.instructions.filter((i) => i.releaseId === id);

async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The approval request posted for a release, once it is. */
async function requestFor(id: string, path: string): Promise<SlackMessage> {
  const find = () => posts.find((p) => p.path === path && p.message.text.includes(id));
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
  const res = await fetch(`${stack.httpUrl}/v1/callbacks/slack`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": slackSignature(secrets.slackSigningSecret, timestamp, form),
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
    const id = await release("quorum", "slack:U0CAROL");

    // The request goes to the application's own webhook and channel, not the global one.
    const request = await requestFor(id, hook);
    expect(request.channel).toBe("#deploys");
    expect(posts.some((p) => p.path === "/hooks/global" && p.message.text.includes(id))).toBe(false);
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
    expect(received("k8s-production", id)).toEqual([]);

    // Bob makes two: the outcome replaces the buttons, and production deploys.
    const second = await click(first.reply, bob, "slipway_approve", "q5");
    expect(second.reply).toMatchObject({ replace_original: true });
    expect(buttonsOf(second.reply)).toEqual([]);
    expect(statusOf(second.reply)).toBe(":white_check_mark: Approved, 2 of 2: <@U0ALICE>, <@U0BOB>");
    await until(() => received("k8s-production", id).length > 0);

    // Once deployed there, approvals are refused — from the API and from a stale message — and nothing is appended.
    await eventually(async () =>
      (await store.read(streams.channel("quorum", "production"))).some((e) => e.type === "InstructionDispatched"),
    );
    const before = (await releaseEvents(id)).length;
    const late = await api(`/v1/releases/${id}/channels/production/approvals`, {
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
    expect((await releaseEvents(id)).length).toBe(before);
  });

  it("refuses API approvals from keys not on the list and from the release's author, with 403s naming the rule", async () => {
    await application("policy", { approvers: ["alice", "bob"] });
    const tooLong = JSON.stringify({ application: "policy", service: "policy-api", author: "a".repeat(257) });
    const refused = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      body: tooLong,
      headers: {
        "content-type": "application/json",
        "x-slipway-signature-256": signBody(secrets.webhookSecret, tooLong),
      },
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["author"]);
    const id = await release("policy", "alice");
    await eventually(async () => (await releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));
    const approve = (as: string) =>
      api(`/v1/releases/${id}/channels/production/approvals`, { method: "POST", body: { decision: "approve" }, as });

    expect(await approve("mallory")).toMatchObject({ status: 403, body: { code: "approval.not_an_approver" } });
    const self = await approve("alice");
    expect(self).toMatchObject({ status: 403, body: { code: "approval.self_approval" } });
    expect(self.body.detail).toBe(
      `alice is the author of release ${id} and may not approve it (allowSelfApproval is off)`,
    );
    expect(await approvalsOf(id)).toEqual([]);
    expect((await api(`/v1/releases/${id}`)).body.author).toBe("alice");
    // No key may pass for a Slack user on a list of approvers.
    const impostor = await api("/v1/api-keys", {
      method: "POST",
      body: { name: "slack:U0ALICE", scopes: ["approve"] },
    });
    expect(impostor).toMatchObject({ status: 400, body: { errors: [{ path: "name" }] } });

    expect(await approve("bob")).toMatchObject({
      status: 200,
      body: { state: "approved", grantedBy: ["bob"], requested: true },
    });
    await until(() => received("k8s-production", id).length > 0);
  });

  it("counts approvals given before the release reached the channel once it gets there", async () => {
    // No notifications of its own: requests go to SLIPWAY_SLACK_WEBHOOK_URL.
    await application("early", { minApprovers: 2 });
    expect((await api("/v1/applications/early/channels/staging/pause", { method: "POST", body: {} })).status).toBe(200);
    const id = await release("early");

    const pre = await api(`/v1/releases/${id}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
      as: "alice",
    });
    expect(pre).toMatchObject({
      status: 200,
      body: { state: "pending", grantedBy: ["alice"], minApprovers: 2, requested: false },
    });
    const production = () =>
      api(`/v1/releases/${id}`).then(
        (r) => (r.body.channels as { name: string; started: boolean; approvals: object }[])[1]!,
      );
    expect(await production()).toMatchObject({
      started: false,
      approvals: { approval: { requested: false, grantedBy: ["alice"] } },
    });

    // Staging deploys; the release reaches production, where the request shows the approval given in advance.
    expect((await api("/v1/applications/early/channels/staging/resume", { method: "POST" })).status).toBe(200);
    const request = await requestFor(id, "/hooks/global");
    expect(statusOf(request)).toBe("1 of 2: alice");
    expect(buttonsOf(request)).toEqual(["slipway_approve", "slipway_reject"]);
    expect(await production()).toMatchObject({
      started: true,
      approvals: { approval: { requested: true, minApprovers: 2, grantedBy: ["alice"] } },
    });
    expect(received("k8s-production", id)).toEqual([]);

    const second = await click(request, bob, "slipway_approve", "e1");
    expect(statusOf(second.reply)).toBe(":white_check_mark: Approved, 2 of 2: alice, <@U0BOB>");
    await until(() => received("k8s-production", id).length > 0);
  });

  it("asks nobody for an approval given in full in advance, and counts it when the release gets there", async () => {
    await application("ahead", [{ name: "cab" }, { name: "qa" }]);
    expect((await api("/v1/applications/ahead/channels/staging/pause", { method: "POST", body: {} })).status).toBe(200);
    const id = await release("ahead");
    expect(
      await api(`/v1/releases/${id}/channels/production/approvals`, {
        method: "POST",
        body: { decision: "approve", approval: "cab" },
        as: "bob",
      }),
    ).toMatchObject({ status: 200, body: { approval: "cab", state: "approved", requested: false } });
    expect((await api("/v1/applications/ahead/channels/staging/resume", { method: "POST" })).status).toBe(200);

    // Both are requested, cab first; the reactor announces them in that order, so once qa's message is
    // there, cab's turn has passed — and it posted nothing, as cab needs nobody.
    const qa = await requestFor(id, "/hooks/global");
    const approvalOf = (m: SlackMessage) =>
      (JSON.parse(m.blocks.find((b) => b.type === "actions")!.elements![0]!.value!) as { approval: string }).approval;
    expect(approvalOf(qa)).toBe("qa");
    expect(posts.filter((p) => p.message.text.includes(id)).map((p) => approvalOf(p.message))).toEqual(["qa"]);
    const events = (await releaseEvents(id)).map((e) => e.type);
    expect(events.indexOf("ApprovalGranted")).toBeLessThan(events.indexOf("ApprovalRequested"));
    expect(received("k8s-production", id)).toEqual([]);

    await click(qa, alice, "slipway_approve", "a1");
    await until(() => received("k8s-production", id).length > 0);
  });

  it("never logs an application's Slack webhook", () => {
    expect(posts.some((p) => p.path.includes(SECRET))).toBe(true);
    expect(logged.filter((line) => line.includes(SECRET))).toEqual([]);
  });
});
