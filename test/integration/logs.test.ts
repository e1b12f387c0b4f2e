import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { signWebhook, slackSignature } from "../../functions/services/credentials.js";
import type { Secrets } from "../../functions/services/deps.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs, IMAGE } from "../support/fixtures.js";
import { until } from "../support/wait.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

/**
 * What `npm start` prints, as a person reads it: one release followed from the webhook to
 * production, line by line — and never a secret, token, key or signature, whatever went by.
 */

type Run = { child: ChildProcess; output: () => string; exited: Promise<number | null> };
const runs: Run[] = [];
/** A whole stack starts in seconds, more on a busy machine. */
const STARTUP_MS = 120_000;
const RUN = { timeout: 240_000 };
const agents: FakeAgent[] = [];
let slack: Server | undefined;

function start(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "infra/local/start.ts", ...args], {
    // The flags decide here, not whatever LOG_LEVEL or LOG_FORMAT the test runs with.
    env: { ...withoutLogSettings(process.env), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const run = { child, output: () => output, exited };
  runs.push(run);
  return run;
}

function withoutLogSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { LOG_LEVEL: _level, LOG_FORMAT: _format, ...rest } = env;
  return rest;
}

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  for (const run of runs) if (run.child.exitCode === null) run.child.kill("SIGKILL");
  slack?.close();
});

describe("npm start's flags", () => {
  it("answers an unknown flag or a bad value with one line and the usage, and exit code 2", RUN, async () => {
    for (const [args, error] of [
      [["--bogus"], "slipway: unknown option '--bogus'"],
      [
        ["--port", "http"],
        "slipway: option '--port <port>' argument 'http' is invalid. it must be a port number (0-65535).",
      ],
      [
        ["--log-format", "xml"],
        "slipway: option '--log-format <format>' argument 'xml' is invalid. Allowed choices are human, json.",
      ],
    ] as const) {
      const run = start([...args]);
      expect(await run.exited).toBe(2);
      const lines = run.output().trimEnd().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe(error);
      expect(lines[1]).toMatch(
        /^usage: npm start -- \[--data-dir <path> \| --in-memory\] .*\[--log-format human\|json\]/,
      );
    }
  });
});

describe("the log of a full run", () => {
  it("tells one release's story in order, in lines a person reads, and prints no credential", RUN, async () => {
    // Slack's incoming webhook: its URL is a credential too.
    const hookSecret = "T0SECRETW/B0SECRETX/xoxb8SecretPathOfTheWebhook";
    const posted: { blocks: { type: string; elements?: { action_id: string; value: string }[] }[] }[] = [];
    slack = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        posted.push(JSON.parse(body) as (typeof posted)[number]);
        res.end("ok");
      });
    });
    await new Promise<void>((r) => slack!.listen(0, "127.0.0.1", () => r()));
    const hook = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/services/${hookSecret}`;

    const run = start(["--in-memory", "--port", "0", "--ws-port", "0"], { SLIPWAY_SLACK_WEBHOOK_URL: hook });
    await until(() => run.output().includes("Press Ctrl-C to stop."), STARTUP_MS);
    const banner = run.output();
    const httpUrl = /HTTP API\s+(\S+)/.exec(banner)![1]!;
    const wsUrl = /WebSocket API\s+(\S+)/.exec(banner)![1]!;
    const secrets = JSON.parse(readFileSync(/secrets\s+(\S+)/.exec(banner)![1]!, "utf8")) as Secrets;
    const signatures: string[] = [];

    const call = async (path: string, init: { method?: string; body?: unknown; key?: string } = {}) => {
      const res = await fetch(`${httpUrl}${path}`, {
        method: init.method ?? "GET",
        headers: { authorization: `Bearer ${init.key ?? secrets.adminApiKey}`, "content-type": "application/json" },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const app = {
      application: {
        ...docs.shop.application,
        releaseChannels: [
          docs.shop.application.releaseChannels[0],
          {
            ...docs.shop.application.releaseChannels[1],
            preconditions: [{ manualApproval: { minApprovers: 2 } }],
          },
        ],
      },
    };
    expect(
      (await call("/v1/configs", { method: "PUT", body: [docs.staging, docs.production, app, docs.api] })).status,
    ).toBe(200);
    const tokens = await Promise.all(
      ["k8s-staging", "k8s-production"].map(
        async (rt) => (await call(`/v1/runtimes/${rt}/link`, { method: "POST" })).body.token as string,
      ),
    );
    const [staging, production] = [
      new FakeAgent(wsUrl, "k8s-staging", tokens[0]!),
      new FakeAgent(wsUrl, "k8s-production", tokens[1]!),
    ];
    agents.push(staging, production);
    await staging.connect();
    await production.connect();
    const issued = await call("/v1/api-keys", {
      method: "POST",
      body: { name: "release-manager", scopes: ["approve"] },
    });
    const approverKey = issued.body.key as string;

    // A webhook signed with the wrong secret is refused, and its signature is not repeated.
    const body = JSON.stringify({ application: "shop", service: "api", params: { image: IMAGE } });
    const signedAt = String(Math.floor(Date.now() / 1000));
    const forged = signWebhook("not-the-secret", signedAt, body);
    const signature = signWebhook(secrets.webhookSecret, signedAt, body);
    signatures.push(forged, signature);
    const webhook = (sig: string) =>
      fetch(`${httpUrl}/v1/webhooks/ci`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-slipway-timestamp": signedAt,
          "x-slipway-signature-256": sig,
        },
      });
    expect((await webhook(forged)).status).toBe(401);
    const accepted = await webhook(signature);
    expect(accepted.status).toBe(202);
    const releaseId = ((await accepted.json()) as { releaseId: string }).releaseId;

    // Production waits for two approvals: one click in Slack, one through the API.
    await until(() => posted.length > 0, 30_000);
    const approve = posted[0]!.blocks
      .find((b) => b.type === "actions")!
      .elements!.find((e) => e.action_id === "slipway_approve")!;
    const form = new URLSearchParams({
      payload: JSON.stringify({
        type: "block_actions",
        user: { id: "U024BE7LH", username: "alice" },
        actions: [{ action_id: approve.action_id, value: approve.value }],
      }),
    }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const slackSig = slackSignature(secrets.slackSigningSecret, timestamp, form);
    signatures.push(slackSig);
    const click = await fetch(`${httpUrl}/v1/callbacks/slack`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": slackSig,
      },
      body: form,
    });
    expect(click.status).toBe(200);
    const second = await call(`/v1/releases/${releaseId}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
      key: approverKey,
    });
    expect(second.status).toBe(200);
    await until(() => run.output().includes(`production: ${releaseId} converged`), 30_000);

    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    const output = run.output();

    for (const secret of [
      secrets.adminApiKey,
      secrets.webhookSecret,
      secrets.slackSigningSecret,
      ...tokens,
      approverKey,
      hookSecret,
      ...signatures,
      ...signatures.map((s) => s.slice(s.indexOf("=") + 1)),
    ])
      expect(output, "a credential reached the log").not.toContain(secret);

    // (The fake agent sends its ack and its reports at once: an ack decided after the report
    // records nothing, so "acknowledged by" is told only when it comes first.)
    const story = [
      `POST /v1/webhooks/ci → 401 webhook.bad_signature`,
      `release ${releaseId} created for shop/api`,
      `staging: ${releaseId} entered`,
      `staging: instruction shop.staging.${releaseId}.k8s-staging dispatched to k8s-staging`,
      `staging: instruction shop.staging.${releaseId}.k8s-staging sent to k8s-staging`,
      `staging: instruction shop.staging.${releaseId}.k8s-staging applied on k8s-staging`,
      `staging: ${releaseId} converged`,
      `production: ${releaseId} entered`,
      `production holds ${releaseId}: waiting for approval "approval": 0 of 2 approvers`,
      `production: approval "approval" of ${releaseId} posted to Slack`,
      `production: approval "approval" of ${releaseId} granted by slack:U024BE7LH`,
      `production: approval "approval" of ${releaseId} granted by release-manager`,
      `production: instruction shop.production.${releaseId}.k8s-production dispatched to k8s-production`,
      `production: instruction shop.production.${releaseId}.k8s-production sent to k8s-production`,
      `production: instruction shop.production.${releaseId}.k8s-production applied on k8s-production`,
      `production: ${releaseId} converged`,
    ];
    const lines = output.split("\n");
    const at = story.map((s) => lines.findIndex((l) => l.includes(s)));
    expect(
      story.filter((_, i) => at[i]! < 0),
      output,
    ).toEqual([]);
    expect(at, output).toEqual([...at].sort((a, b) => a - b));
    // Each is a line for people: the time, who speaks, what happened.
    expect(lines[at[1]!]).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  api +release ${releaseId} created for shop/api`),
    );
    // Sent on the write path, by the request that created the release — or by the reactor, when its
    // evaluation of the same PromotionStarted got there first.
    expect(lines[at[4]!]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}(api|reactor) +staging: instruction /);
    expect(lines[at[5]!]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}agents +staging: instruction .* applied on k8s-staging/);
  });

  it("prints JSON lines with --log-format json, each carrying the keys that follow a release", RUN, async () => {
    const run = start(["--in-memory", "--port", "0", "--ws-port", "0", "--log-format", "json"]);
    await until(() => run.output().includes('"message":"slipway is running"'), STARTUP_MS);
    const running = JSON.parse(
      run
        .output()
        .split("\n")
        .find((l) => l.includes("slipway is running"))!,
    ) as Record<string, string>;
    const secrets = JSON.parse(readFileSync(running.secretsPath!, "utf8")) as Secrets;
    const put = await fetch(`${running.httpUrl}/v1/configs`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${secrets.adminApiKey}`,
        "content-type": "application/json",
        "x-request-id": "req-json-1",
      },
      body: JSON.stringify([docs.staging, docs.production, docs.shop, docs.api]),
    });
    expect(put.status).toBe(200);
    const body = JSON.stringify({ application: "shop", service: "api", params: { image: IMAGE } });
    const res = await fetch(`${running.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "x-request-id": "req-json-2",
        ...signedWebhookHeaders(secrets.webhookSecret, body),
      },
    });
    const releaseId = ((await res.json()) as { releaseId: string }).releaseId;
    // No agent is connected: the instruction waits, and the log says so.
    await until(() => run.output().includes("waits for an agent"), 30_000);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);

    const entries = run
      .output()
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.find((e) => e.event === "ReleaseCreated")).toMatchObject({
      level: "INFO",
      component: "api",
      message: `release ${releaseId} created for shop/api`,
      releaseId,
      application: "shop",
      service: "api",
      correlationId: "req-json-2",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // The webhook's request id follows the release into its dispatch (on the write path, or the
    // reactor's when it got there first).
    expect(entries.find((e) => e.event === "InstructionDispatched")).toMatchObject({
      component: expect.stringMatching(/^(api|reactor)$/),
      releaseId,
      channel: "staging",
      runtime: "k8s-staging",
      instructionId: `shop.staging.${releaseId}.k8s-staging`,
      correlationId: "req-json-2",
    });
    expect(entries.find((e) => String(e.message).includes("waits for an agent"))).toMatchObject({
      component: expect.stringMatching(/^(api|reactor)$/),
      releaseId,
      instructionId: `shop.staging.${releaseId}.k8s-staging`,
      correlationId: "req-json-2",
    });
  });
});
