import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import type { InstructionMessage } from "../../core/index.js";
import type { Secrets } from "../../functions/services/deps.js";
import { slackSignature } from "../../functions/services/credentials.js";
import type { LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

/**
 * Drives the local stack the way users do — signed CI webhooks, Slack approval clicks, agents on
 * WebSockets — and notes the moment each instruction reaches its agent.
 */
export class Flow {
  readonly slackPosts: string[] = [];
  private readonly arrivals = new Map<string, number>();
  private readonly waiters = new Map<string, (t: number) => void>();
  private slack?: Server;
  secrets!: Secrets;
  stack!: LocalStack;
  agents: FakeAgent[] = [];
  private slackWaiters: (() => void)[] = [];

  /** A stand-in for Slack's incoming webhook, listening before the stack starts so the stack posts to it. */
  async listenForSlack(): Promise<void> {
    this.slack = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        this.slackPosts.push(body);
        for (const w of this.slackWaiters.splice(0)) w();
        res.end("ok");
      });
    });
    await new Promise<void>((r) => this.slack!.listen(0, "127.0.0.1", () => r()));
    process.env.SLIPWAY_SLACK_WEBHOOK_URL = `http://127.0.0.1:${(this.slack.address() as AddressInfo).port}/hook`;
  }

  use(stack: LocalStack): void {
    this.stack = stack;
    this.secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  }

  async api(
    path: string,
    method = "GET",
    body?: string,
    contentType = "application/json",
  ): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.stack.httpUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.secrets.adminApiKey}`,
        ...(body ? { "content-type": contentType } : {}),
      },
      ...(body ? { body } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async applyConfigs(docs: object[]): Promise<void> {
    await this.api("/v1/configs", "PUT", docs.map((d) => stringify(d)).join("---\n"), "application/yaml");
  }

  /** Links a runtime and connects an agent that acks and reports success for every instruction. */
  async agent(runtime: string): Promise<FakeAgent> {
    const token = (await this.api(`/v1/runtimes/${runtime}/link`, "POST")).token as string;
    const agent = new FakeAgent(this.stack.wsUrl, runtime, token, { onInstruction: (i) => this.arrived(i) });
    await agent.connect();
    this.agents.push(agent);
    return agent;
  }

  private arrived(i: InstructionMessage): void {
    const key = `${i.channel}/${i.releaseId}/${i.runtime}`;
    const t = performance.now();
    if (this.arrivals.has(key)) return;
    this.arrivals.set(key, t);
    this.waiters.get(key)?.(t);
  }

  /** When the instruction for this release reached the agent of `runtime` in `channel`. */
  instructionAt(channel: string, releaseId: string, runtime: string, timeoutMs = 60_000): Promise<number> {
    const key = `${channel}/${releaseId}/${runtime}`;
    const known = this.arrivals.get(key);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no instruction for ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(key, (t) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(t);
      });
    });
  }

  /** A signed CI webhook: the build of `tag`. Resolves with the release id and the time it was sent. */
  async webhook(application: string, service: string, tag: string): Promise<{ releaseId: string; sentAt: number }> {
    const body = JSON.stringify({
      application,
      service,
      params: { image: `registry.example.com/${application}/${service}:${tag}` },
    });
    const sentAt = performance.now();
    const res = await fetch(`${this.stack.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        ...signedWebhookHeaders(this.secrets.webhookSecret, body),
      },
    });
    if (res.status !== 202) throw new Error(`webhook: ${res.status} ${await res.text()}`);
    return { releaseId: ((await res.json()) as { releaseId: string }).releaseId, sentAt };
  }

  /** Waits for the approval request about this release to reach Slack; returns its Approve button's value. */
  async approvalRequest(releaseId: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const post of this.slackPosts) {
        if (!post.includes(releaseId)) continue;
        const blocks = (
          JSON.parse(post) as { blocks: { type: string; elements?: { action_id: string; value: string }[] }[] }
        ).blocks;
        const approve = blocks
          .find((b) => b.type === "actions")
          ?.elements?.find((e) => e.action_id === "slipway_approve");
        if (approve) return approve.value;
      }
      if (Date.now() > deadline) throw new Error(`no approval request for ${releaseId}`);
      await new Promise<void>((r) => (this.slackWaiters.push(r), setTimeout(r, 200)));
    }
  }

  /** A signed click on Approve, as Slack sends it. Resolves with the time it was sent. */
  async approve(value: string): Promise<number> {
    const form = new URLSearchParams({
      payload: JSON.stringify({
        type: "block_actions",
        user: { id: "U0BENCH", username: "bench" },
        actions: [{ action_id: "slipway_approve", value }],
      }),
    }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const sentAt = performance.now();
    const res = await fetch(`${this.stack.httpUrl}/v1/callbacks/slack`, {
      method: "POST",
      body: form,
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": slackSignature(this.secrets.slackSigningSecret, timestamp, form),
      },
    });
    if (res.status !== 200) throw new Error(`slack callback: ${res.status} ${await res.text()}`);
    await res.text();
    return sentAt;
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.close()));
    this.slack?.close();
  }
}
