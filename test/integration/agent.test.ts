import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createServer, type IncomingMessage } from "node:http";
import { connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { parseAllDocuments } from "yaml";
import { get } from "../../agent/proxy.js";
import { streams } from "../../core/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { buildAgent } from "../../infra/tools/build-agent.js";
import { FakeKube } from "../support/fake-kube.js";
import { docs } from "../support/fixtures.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

/**
 * Real agent processes against the local stack, run as users run them: the one-file bundle
 * (`npm run build:agent`) copied into an empty folder and started with plain `node`. There is no
 * cluster here, so the agent talks to a fake Kubernetes API server (test/support/fake-kube.ts)
 * that records what it was sent and rolls Deployments out.
 */
const dir = mkdtempSync(join(tmpdir(), "slipway-agent-"));
/** The bundle, alone in a folder of its own: nothing of the repository beside it. */
const bundle = join(mkdtempSync(join(tmpdir(), "slipway-agent-bundle-")), "agent.mjs");
/** The kube-system namespace UIDs of two clusters. */
const CLUSTER_A = "2f6a1c3e-8d1b-4b7e-9c53-0a4b1e7d9f10";
const CLUSTER_B = "91d0e7c2-5a44-4c1f-b8e6-3f2a9c0d4e21";
const kubeA = new FakeKube(CLUSTER_A);
const kubeB = new FakeKube(CLUSTER_B);
/** The agent's namespace, its kubeconfig context's: where manifests that name none land. */
const AGENT_NS = "slipway-agent";
let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
const processes: ChildProcess[] = [];

beforeAll(async () => {
  await Promise.all([buildAgent(bundle), kubeA.start(), kubeB.start()]);
  kubeA.writeKubeconfig(join(dir, "kubeconfig-a"), AGENT_NS);
  kubeB.writeKubeconfig(join(dir, "kubeconfig-b"), AGENT_NS);
  stack = await startLocalStack({ stage: "agents", websocket: { idleTimeoutMs: 1500 } });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
  const app = {
    application: {
      name: "shop",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } }],
    },
  };
  await api("/v1/configs", "PUT", [docs.staging, app, docs.api]);
});

afterAll(async () => {
  for (const p of processes) p.kill("SIGKILL");
  await Promise.all([stack?.stop(), kubeA.stop(), kubeB.stop()]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(dirname(bundle), { recursive: true, force: true });
});

async function api(path: string, method = "GET", body?: unknown) {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secrets.adminApiKey}`,
      ...(body ? { "content-type": "application/json" } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function link(): Promise<string> {
  return (await api("/v1/runtimes/k8s-staging/link", "POST")).token as string;
}

type Running = { process: ChildProcess; output: () => string; exited: Promise<number | null> };

/** An agent process; `--kubeconfig` points at cluster A unless the arguments name another. */
function startAgent(token: string, stateFile: string, env: Record<string, string> = {}, args: string[] = []): Running {
  const child = spawn(
    process.execPath,
    [
      bundle,
      "--server",
      stack.wsUrl,
      "--runtime",
      "k8s-staging",
      "--token",
      token,
      "--state-file",
      stateFile,
      ...(args.includes("--kubeconfig") ? [] : ["--kubeconfig", join(dir, "kubeconfig-a")]),
      "--heartbeat-seconds",
      "0.4",
      ...args,
    ],
    {
      cwd: dirname(bundle),
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  processes.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { process: child, output: () => output, exited };
}

async function release(tag: string): Promise<string> {
  const body = JSON.stringify({
    application: "shop",
    service: "api",
    params: { image: `registry.example.com/shop/api:${tag}` },
  });
  const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...signedWebhookHeaders(secrets.webhookSecret, body) },
  });
  return ((await res.json()) as { releaseId: string }).releaseId;
}

async function eventually(check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops an agent the way Kubernetes does (SIGTERM) and waits for it to exit. */
async function stop(agent: Running): Promise<void> {
  agent.process.kill("SIGTERM");
  await agent.exited;
}

/** Waits until the release converged in staging, then: applied once, converged once. */
async function convergedOnce(releaseId: string): Promise<void> {
  await eventually(async () =>
    (await channelEvents()).some((e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId),
  );
  const events = (await channelEvents()).filter((e) => "releaseId" in e.data && e.data.releaseId === releaseId);
  expect(events.filter((e) => e.type === "ApplySucceeded")).toHaveLength(1);
  expect(events.filter((e) => e.type === "ChannelConverged")).toHaveLength(1);
}

/** The images of the Deployments the agent server-side applied to cluster A, in order. */
const appliedImages = () =>
  kubeA
    .applies("Deployment")
    .map(
      (c) =>
        (c.body?.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!
          .image,
    );
/** A channel's log with its runtime's delivery stream, where the agent's progress is recorded. */
const logOf = async (application: string, channel: string, runtime: string) => [
  ...(await store.read(streams.channel(application, channel))),
  ...(await store.read(streams.delivery(application, channel, runtime))),
];
const channelEvents = () => logOf("shop", "staging", "k8s-staging");
type RuntimeItem = {
  name: string;
  status: string;
  leaseGeneration?: number;
  running?: { service: string; releaseId?: string; images?: string[]; healthy: boolean }[];
};
const connected = async () =>
  ((await api("/v1/runtimes")).items as RuntimeItem[]).find((r) => r.name === "k8s-staging")!;

describe("the reference agent", () => {
  it("runs from its bundle alone, with plain node: --help says how, a bad flag says what is wrong", async () => {
    const run = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((done) => {
        const child = spawn(process.execPath, [bundle, ...args], { cwd: dirname(bundle), env: {} });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.once("exit", (code) => done({ code, out }));
      });
    const help = await run("--help");
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: slipway-agent [options]");
    expect(help.out).toContain("SLIPWAY_PROBE_PORT");
    const bad = await run("--probe-port", "nope", "--server", "ws://x", "--runtime", "r", "--token", "t");
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--probe-port must be a port number, not "nope"');
    expect(bad.out).not.toMatch(/\bat .*\(.*:\d+:\d+\)/); // no stack trace
    const missing = await run();
    expect(missing.code).toBe(2);
    expect(missing.out).toContain("missing --server (SLIPWAY_SERVER_URL)");
  });

  it("answers its probes: alive while it runs, ready only while connected and holding the lease", async () => {
    const probePort = async (agent: Running) => {
      await eventually(() => /probes on port (\d+)/.test(agent.output()));
      return Number(/probes on port (\d+)/.exec(agent.output())![1]);
    };
    const status = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;

    const refused = startAgent("slwa_not-a-token", join(dir, "probe-refused.json"), {}, ["--probe-port", "0"]);
    const refusedPort = await probePort(refused);
    await eventually(() => refused.output().includes("connection refused (401)"));
    expect(await status(refusedPort, "/healthz")).toBe(200);
    expect(await status(refusedPort, "/readyz")).toBe(503);
    refused.process.kill("SIGTERM");
    expect(await refused.exited).toBe(0);

    const agent = startAgent(await link(), join(dir, "probe.json"), {}, ["--probe-port", "0"]);
    const port = await probePort(agent);
    await eventually(() => agent.output().includes("connected to"));
    await eventually(async () => (await status(port, "/readyz")) === 200);
    expect(await status(port, "/healthz")).toBe(200);
    expect(await status(port, "/nope")).toBe(404);
    agent.process.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
  });

  it("server-side applies through the API server, waits for the rollout, reports, and never logs its token", async () => {
    const token = await link();
    kubeA.rolloutMs = 300;
    const agent = startAgent(token, join(dir, "state-1.json"));
    await eventually(async () => (await connected()).status === "connected");
    const id = await release("1.0.0");
    await eventually(async () =>
      (await channelEvents()).some((e) => e.type === "ChannelConverged" && e.data.releaseId === id),
    );
    // Applied as `kubectl apply --server-side --force-conflicts` would, into the agent's namespace.
    const applied = kubeA.applies("Deployment").at(-1)!;
    expect(applied).toMatchObject({
      path: `/apis/apps/v1/namespaces/${AGENT_NS}/deployments/api`,
      fieldManager: "slipway-agent",
      force: "true",
    });
    expect(appliedImages().at(-1)).toBe("registry.example.com/shop/api:1.0.0");
    // It waited for the rollout: the deployment was ready in the cluster before the report said so.
    expect(kubeA.get("apps/v1", "Deployment", "api", AGENT_NS)?.status).toMatchObject({ availableReplicas: 1 });
    const succeeded = (await channelEvents()).find((e) => e.type === "ApplySucceeded" && e.data.releaseId === id);
    expect(succeeded?.type === "ApplySucceeded" && succeeded.data.message).toBe("rolled out api");
    expect(agent.output()).not.toContain(token);
    // After the apply it reports what runs, read back from the cluster.
    await eventually(async () => (await connected()).running?.[0]?.releaseId === id);
    expect((await connected()).running).toEqual([
      { service: "api", releaseId: id, images: ["registry.example.com/shop/api:1.0.0"], healthy: true },
    ]);
    await stop(agent);

    // Someone changes the image by hand while the agent is away; on connect it reports what it finds.
    kubeA.edit("apps/v1", "Deployment", "api", AGENT_NS, (d) => {
      (d.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image =
        "registry.example.com/shop/api:hand-edited";
    });
    const applies = kubeA.applies().length;
    const again = startAgent(token, join(dir, "state-1.json"));
    await eventually(
      async () => (await connected()).running?.[0]?.images?.[0] === "registry.example.com/shop/api:hand-edited",
    );
    expect(kubeA.applies().length).toBe(applies);
    await stop(again);
    kubeA.rolloutMs = 0;
  });

  it("fails an apply the API server refuses, saying what it said", async () => {
    const token = await link();
    const agent = startAgent(token, join(dir, "state-refused.json"));
    await eventually(async () => (await connected()).status === "connected");
    // Applied, the template names a kind this cluster does not serve.
    await api("/v1/configs", "PUT", [
      {
        service: {
          ...docs.api.service,
          kubernetesConfig: {
            manifests: [
              'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  image: "{{.Params.image}}"\n',
            ],
          },
        },
      },
    ]);
    const id = await release("9.9.9");
    await eventually(async () =>
      (await channelEvents()).some((e) => e.type === "ApplyFailed" && e.data.releaseId === id),
    );
    const failed = (await channelEvents()).find((e) => e.type === "ApplyFailed" && e.data.releaseId === id);
    expect(failed?.type === "ApplyFailed" && failed.data.message).toContain(
      "Widget/w: the API server does not serve example.com/v1 Widget",
    );
    await api("/v1/configs", "PUT", [docs.api]);
    await stop(agent);
  });

  it("runs an extension runtime's templated apply command as a process, reporting its exit code and output", async () => {
    const out = join(dir, "extension-out");
    const runtime = {
      runtime: {
        name: "vm-runtime",
        extension: {
          proxyRuntime: { runtime: "k8s-staging" },
          apply: {
            taskConfig: {
              image: "registry.example.com/tools/vm:1",
              program: {
                cmd: [
                  "bash",
                  "-c",
                  `echo "change {{.Params.changeId}} to {{.Builtins.ReleaseChannel}}" > ${out}; echo done; exit {{.Params.exitCode}}`,
                ],
              },
            },
          },
          parameters: [
            { name: "changeId", required: true },
            { name: "exitCode", type: "number", default: 0 },
          ],
        },
      },
    };
    const app = {
      application: {
        name: "infra",
        releaseChannels: [{ name: "staging", runtimes: [{ runtime: "vm-runtime", type: "extension" }] }],
      },
    };
    const service = {
      service: {
        name: "vms",
        application: "infra",
        parameters: [
          { name: "change", required: true },
          { name: "code", type: "number", default: 0 },
        ],
        runtimeExtension: {
          parameterValues: [
            { name: "changeId", value: "{{.Params.change}}" },
            { name: "exitCode", value: "{{.Params.code}}" },
          ],
        },
      },
    };
    expect(await api("/v1/configs", "PUT", [runtime, app, service])).toMatchObject({ applied: expect.any(Array) });
    const token = await link();
    const agent = startAgent(token, join(dir, "state-ext.json"));
    await eventually(async () => (await connected()).status === "connected");
    const send = async (params: object) => {
      const body = JSON.stringify({ application: "infra", service: "vms", params });
      const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          ...signedWebhookHeaders(secrets.webhookSecret, body),
        },
      });
      return ((await res.json()) as { releaseId: string }).releaseId;
    };
    const ok = await send({ change: "chg-42" });
    const events = () => store.read(streams.channel("infra", "staging"));
    await eventually(async () =>
      (await events()).some((e) => e.type === "ChannelConverged" && e.data.releaseId === ok),
    );
    expect(readFileSync(out, "utf8")).toBe("change chg-42 to staging\n");
    const failing = await send({ change: "chg-43", code: 7 });
    await eventually(async () =>
      (await events()).some((e) => e.type === "ApplyFailed" && e.data.releaseId === failing),
    );
    const failed = (await events()).find((e) => e.type === "ApplyFailed" && e.data.releaseId === failing);
    expect(failed?.type === "ApplyFailed" && failed.data.message).toBe("exit code 7: done");
    await stop(agent);
  });

  it("runs an extension's Job in its namespace, waits for it, and reports how it ended with its pod's log", async () => {
    const runtime = {
      runtime: {
        name: "migrations",
        extension: {
          proxyRuntime: { runtime: "k8s-staging", namespace: "ext-jobs" },
          apply: {
            kubernetesConfig: {
              manifests: [
                'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: "migrate-{{.Params.changeId}}"\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n          image: registry.example.com/tools/migrate:1\n',
              ],
            },
          },
          parameters: [{ name: "changeId", required: true }],
        },
      },
    };
    const app = {
      application: {
        name: "db",
        releaseChannels: [{ name: "staging", runtimes: [{ runtime: "migrations", type: "extension" }] }],
      },
    };
    const service = {
      service: {
        name: "schema",
        application: "db",
        parameters: [{ name: "change", required: true }],
        runtimeExtension: { parameterValues: [{ name: "changeId", value: "{{.Params.change}}" }] },
      },
    };
    expect(await api("/v1/configs", "PUT", [runtime, app, service])).toMatchObject({ applied: expect.any(Array) });
    kubeA.jobMs = 300;
    kubeA.jobLog = "migrated 3 tables\n";
    kubeA.failJobs.add("migrate-c2");
    const agent = startAgent(await link(), join(dir, "state-job.json"));
    await eventually(async () => (await connected()).status === "connected");
    const events = () => logOf("db", "staging", "migrations");
    const send = async (change: string) => {
      const body = JSON.stringify({ application: "db", service: "schema", params: { change } });
      const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", ...signedWebhookHeaders(secrets.webhookSecret, body) },
      });
      return ((await res.json()) as { releaseId: string }).releaseId;
    };
    const ok = await send("c1");
    await eventually(async () => (await events()).some((e) => e.type === "ApplySucceeded" && e.data.releaseId === ok));
    expect(kubeA.applies("Job").at(-1)?.path).toBe("/apis/batch/v1/namespaces/ext-jobs/jobs/migrate-c1");
    const succeeded = (await events()).find((e) => e.type === "ApplySucceeded" && e.data.releaseId === ok);
    expect(succeeded?.type === "ApplySucceeded" && succeeded.data.message).toBe(
      "job/migrate-c1 completed\nmigrated 3 tables",
    );
    const bad = await send("c2");
    await eventually(async () => (await events()).some((e) => e.type === "ApplyFailed" && e.data.releaseId === bad));
    const failed = (await events()).find((e) => e.type === "ApplyFailed" && e.data.releaseId === bad);
    expect(failed?.type === "ApplyFailed" && failed.data.message).toBe(
      "job/migrate-c2 failed: BackoffLimitExceeded Job has reached the specified backoff limit\nmigrated 3 tables",
    );
    kubeA.jobMs = 0;
    await stop(agent);
  });

  it("keeps an idle connection alive past the idle timeout with heartbeats", async () => {
    const token = await link();
    const agent = startAgent(token, join(dir, "state-2.json"));
    await eventually(async () => (await connected()).status === "connected");
    const generation = (await connected()).leaseGeneration;
    // The gateway's idle timeout is 1.5 s here; heartbeats every 0.4 s keep the same connection.
    await new Promise((r) => setTimeout(r, 3500));
    expect(await connected()).toMatchObject({ status: "connected", leaseGeneration: generation });
    await stop(agent);
  });

  it("completes an instruction once when it is killed mid-apply and restarted", async () => {
    const token = await link();
    const state = join(dir, "state-3.json");
    kubeA.rolloutMs = 3000;
    const first = startAgent(token, state);
    await eventually(async () => (await connected()).status === "connected");
    const id = await release("2.0.0");
    // Killed while it waits for the rollout it started.
    await eventually(() => appliedImages().at(-1) === "registry.example.com/shop/api:2.0.0");
    first.process.kill("SIGKILL");
    await first.exited;
    kubeA.rolloutMs = 0;
    const second = startAgent(token, state);
    await convergedOnce(id);
    await stop(second);
  });

  it("renews its connection before the age limit without losing the instruction in flight", async () => {
    const token = await link();
    // Connections live 1.5 s here instead of just under 2 hours; the rollout takes 3 s, so the
    // outcome is reported on a later connection than the one the instruction came on.
    kubeA.rolloutMs = 3000;
    const agent = startAgent(token, join(dir, "state-renew.json"), {}, ["--max-connection-seconds", "1.5"]);
    await eventually(async () => (await connected()).status === "connected");
    const firstGeneration = (await connected()).leaseGeneration!;
    const id = await release("3.0.0");
    await convergedOnce(id);
    kubeA.rolloutMs = 0;
    // It renewed at least twice, never gave up, and is still connected.
    await eventually(async () => (await connected()).leaseGeneration! >= firstGeneration + 3);
    expect(await connected()).toMatchObject({ status: "connected" });
    expect(agent.output()).toContain("renewing the connection before the 2-hour limit");
    expect(agent.output()).not.toContain("giving up");
    await stop(agent);
  });

  it("refuses the old token after the runtime is linked again", async () => {
    const old = await link();
    const agent = startAgent(old, join(dir, "state-4.json"));
    await eventually(async () => (await connected()).status === "connected");
    await link();
    await eventually(() =>
      agent.output().includes("connection refused (401): the agent token is not valid for this runtime"),
    );
    // Told why before the 401: by the rotation notice, or — when its heartbeat gets there first — by
    // the fencing of its messages.
    expect(agent.output()).toMatch(/agent\.token_rotated|agent\.fenced/);
    await stop(agent);
  });

  it("pins the runtime to the cluster its agent runs in, and refuses the same token from another cluster until linked again", async () => {
    const token = await link();
    const agent = startAgent(token, join(dir, "state-6a.json"));
    await eventually(async () => (await connected()).status === "connected");
    expect((await api("/v1/runtimes/k8s-staging")).cluster).toEqual({ id: CLUSTER_A, serverVersion: "v1.31.2" });
    await stop(agent);

    // The token copied into another cluster: refused at the handshake, saying which cluster the runtime is in.
    const stray = startAgent(token, join(dir, "state-6b.json"), {}, ["--kubeconfig", join(dir, "kubeconfig-b")]);
    await eventually(() => stray.output().includes("connection refused (409)"));
    expect(stray.output()).toContain(`belongs to cluster ${CLUSTER_A}; this agent runs in cluster ${CLUSTER_B}`);
    expect((await connected()).status).not.toBe("connected");
    await stop(stray);

    // Linked again, the runtime moves to whichever cluster its next agent runs in.
    const moved = startAgent(await link(), join(dir, "state-6c.json"), {}, ["--kubeconfig", join(dir, "kubeconfig-b")]);
    await eventually(async () => (await connected()).status === "connected");
    expect((await api("/v1/runtimes/k8s-staging")).cluster).toEqual({ id: CLUSTER_B, serverVersion: "v1.31.2" });
    await stop(moved);
  });

  it("lets two agents for one runtime settle: one holds the lease, the other gives up instead of flapping", async () => {
    const token = await link();
    const a = startAgent(token, join(dir, "state-5a.json"));
    await eventually(async () => (await connected()).status === "connected");
    const b = startAgent(token, join(dir, "state-5b.json"));
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const winner = loser === a ? b : a;
    expect(await loser.exited).toBe(3);
    expect(loser.output()).toContain("another agent keeps taking the lease");
    await eventually(async () => (await connected()).status === "connected");
    const history = await store.read(streams.runtime("k8s-staging"));
    expect(history.filter((e) => e.type === "AgentSuperseded").length).toBeGreaterThanOrEqual(3);
    expect(winner.process.exitCode).toBeNull();
    await stop(winner);
  });

  it("links with the namespace and image the install YAML should use, and refuses ones Kubernetes would not take", async () => {
    const link = (options: Record<string, string>) =>
      fetch(`${stack.httpUrl}/v1/runtimes/k8s-staging/link?${new URLSearchParams(options).toString()}`, {
        method: "POST",
        headers: { authorization: `Bearer ${secrets.adminApiKey}` },
      });
    const tokensIssued = async () =>
      (await store.read(streams.runtime("k8s-staging"))).filter((e) => e.type === "AgentTokenIssued").length;
    const before = await tokensIssued();
    const bad = await link({ namespace: "Not_A_Namespace", image: "https://x" });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe("request.invalid");
    expect(problem.errors.map((e) => e.path).sort()).toEqual(["image", "namespace"]);
    // A refused link rotates nothing.
    expect(await tokensIssued()).toBe(before);

    const good = await link({ namespace: "ops", image: "registry.example.com/slipway/agent:1.0.0" });
    expect(good.status).toBe(200);
    const yaml = ((await good.json()) as { installManifest: string }).installManifest;
    expect(yaml).toMatch(/^kind: Namespace\nmetadata:\n {2}name: ops$/m);
    expect(yaml).toContain('image: "registry.example.com/slipway/agent:1.0.0"');
    expect(yaml).toContain("name: slipway-agent-k8s-staging");

    const options = await link({
      rbac: "cluster",
      state: "ephemeral",
      caSecret: "corp-ca",
      httpsProxy: "http://proxy.internal:3128",
    });
    expect(options.status).toBe(200);
    const objects = parseAllDocuments(((await options.json()) as { installManifest: string }).installManifest).map(
      (d) => d.toJS() as { kind: string; stringData?: Record<string, string> },
    );
    expect(objects.filter((o) => o.kind === "ClusterRole")).toHaveLength(2);
    // The only Role is over the agent's own Deployment (the runtime is managed).
    expect(
      objects.filter((o) => o.kind === "Role").map((o) => (o as { metadata?: { name?: string } }).metadata?.name),
    ).toEqual(["slipway-agent-k8s-staging-self"]);
    expect(objects.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    expect(objects.find((o) => o.kind === "Secret")?.stringData?.SLIPWAY_HTTPS_PROXY).toBe(
      "http://proxy.internal:3128",
    );

    const before2 = await tokensIssued();
    const wrong = await link({
      rbac: "everything",
      state: "disk",
      caSecret: "a",
      caConfigMap: "b",
      httpsProxy: "socks5://p",
    });
    expect(wrong.status).toBe(400);
    const refused = (await wrong.json()) as { errors: { path: string }[] };
    expect(refused.errors.map((e) => e.path).sort()).toEqual(["httpsProxy", "rbac", "state"]);
    const both = await link({ caSecret: "a", caConfigMap: "b" });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["caConfigMap"]);
    expect(await tokensIssued()).toBe(before2);
  });

  it("reaches Slipway through an HTTP proxy, tunnelling the WebSocket and payload fetches with CONNECT", async () => {
    const tunnels: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? "");
      const [host, port] = (req.url ?? "").split(":");
      const upstream = netConnect(Number(port), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const agent = startAgent(await link(), join(dir, "state-7.json"), { SLIPWAY_HTTPS_PROXY: proxyUrl });
      await eventually(async () => (await connected()).status === "connected");
      const ws = new URL(stack.wsUrl);
      expect(tunnels).toContain(`${ws.hostname}:${ws.port}`);
      await stop(agent);

      // Payloads too large for one message are fetched over HTTP, through the same kind of tunnel.
      const http = new URL(stack.httpUrl);
      const fetched = await get(`${stack.httpUrl}/healthz`, {}, proxyUrl);
      expect(fetched.status).toBe(200);
      expect(tunnels).toContain(`${http.hostname}:${http.port}`);
      // A proxy that refuses says so.
      await expect(get(`${stack.httpUrl}/healthz`, {}, "http://127.0.0.1:1")).rejects.toThrow(/cannot be reached/);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("keeps what it applied in a ConfigMap through the API server, and a new pod reads it back", async () => {
    const configMap = "slipway-agent-k8s-staging-state";
    const token = await link();
    const args = ["--state-configmap", configMap];
    const agent = startAgent(token, join(dir, "unused.json"), {}, args);
    await eventually(async () => (await connected()).status === "connected");
    const id = await release("5.0.0");
    await convergedOnce(id);
    await stop(agent);
    const saved = JSON.parse(kubeA.get("v1", "ConfigMap", configMap, AGENT_NS)!.data!["state.json"]!) as {
      done: Record<string, { status: string; at: string }>;
    };
    const entry = Object.entries(saved.done).find(([instruction]) => instruction.includes(id));
    expect(entry?.[1]).toMatchObject({ status: "succeeded", at: expect.any(String) });
    // Written by server-side apply, owning only its key.
    expect(kubeA.applies("ConfigMap").at(-1)).toMatchObject({
      path: `/api/v1/namespaces/${AGENT_NS}/configmaps/${configMap}`,
      fieldManager: "slipway-agent",
    });
    const next = startAgent(token, join(dir, "also-unused.json"), {}, args);
    await eventually(() => /remembering (\d+) finished instructions \(configmap\//.test(next.output()));
    expect(Number(/remembering (\d+) finished/.exec(next.output())![1])).toBe(Object.keys(saved.done).length);
    await stop(next);
  });

  it("sets the image Slipway announces on its own Deployment when it manages it, and only says so otherwise", async () => {
    const deployment = "slipway-agent-k8s-staging";
    kubeA.create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: deployment, namespace: AGENT_NS },
      spec: {
        replicas: 1,
        template: { spec: { containers: [{ name: "agent", image: "registry.example.com/slipway/agent:1.0.0" }] } },
      },
    });
    // A server that only announces an upgrade, to see what the agent does with it.
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const announce = { type: "upgrade", version: "1.9.0", image: "registry.example.com/slipway/agent:1.9.0" };
    server.on("connection", (ws) => ws.send(JSON.stringify(announce)));
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const image = () =>
      (
        kubeA.get("apps/v1", "Deployment", deployment, AGENT_NS)!.spec as {
          template: { spec: { containers: { image: string }[] } };
        }
      ).template.spec.containers[0]!.image;
    try {
      const external = startAgent("slwa_t", join(dir, "state-up-1.json"), { POD_NAMESPACE: AGENT_NS }, [
        "--server",
        url,
      ]);
      await eventually(() => external.output().includes("this agent does not manage its own Deployment"));
      expect(image()).toBe("registry.example.com/slipway/agent:1.0.0");
      await stop(external);

      const managed = startAgent(
        "slwa_t",
        join(dir, "state-up-2.json"),
        { POD_NAMESPACE: AGENT_NS, SLIPWAY_DEPLOYMENT: deployment },
        ["--server", url],
      );
      await eventually(() => image() === announce.image);
      expect(managed.output()).toContain(`setting deployment/${deployment} to ${announce.image}`);
      // Only the image, under a field manager of its own.
      expect(kubeA.applies("Deployment").at(-1)).toMatchObject({
        fieldManager: "slipway-agent-upgrade",
        body: { spec: { template: { spec: { containers: [{ name: "agent", image: announce.image }] } } } },
      });
      await stop(managed);
    } finally {
      server.clients.forEach((c) => c.terminate());
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("survives an instruction it cannot fetch: logs it, stays up, and leaves it for Slipway to send again", async () => {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const heard: { action: string; status?: string }[] = [];
    server.on("connection", (ws) => {
      ws.on("message", (m) => heard.push(JSON.parse(m.toString()) as { action: string }));
      ws.send(
        JSON.stringify({
          type: "instruction",
          protocol: 1,
          instructionId: "shop.staging.r1.k8s-staging",
          runtime: "k8s-staging",
          application: "shop",
          channel: "staging",
          service: "api",
          releaseId: "r1",
          rollback: false,
          leaseGeneration: 1,
          payloadUrl: "http://127.0.0.1:1/v1/agent/instructions/nope",
        }),
      );
    });
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const agent = startAgent("slwa_t", join(dir, "state-unfetchable.json"), {}, ["--server", url]);
      await eventually(() => agent.output().includes("could not act on a message from Slipway"));
      expect(agent.process.exitCode).toBeNull();
      // Acknowledged, said it was applying, and reported no outcome it does not know.
      expect(heard.filter((m) => m.action === "report").map((m) => m.status)).toEqual(["applying"]);
      await stop(agent);
    } finally {
      server.clients.forEach((c) => c.terminate());
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
