import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import type { InstructionMessage } from "../../core/index.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { eventually } from "../support/wait.js";
import { record, scale } from "./figures.js";

/**
 * Crashes: `npm start` on a data folder, SIGKILLed (with its DynamoDB Local) at random moments
 * while releases flow, and started again on the same folder. Afterwards every release that was
 * accepted has converged in its last channel, no runtime was told to apply a release in a channel
 * twice under different instructions, and every stream of the log runs 1, 2, 3 … with no gap and
 * no event twice.
 */

const KILLS = scale(3, 20);
const RELEASES_PER_ROUND = scale(2, 3);

const root = join(import.meta.dirname, "../..");
const dataDir = mkdtempSync(join(tmpdir(), "slipway-crash-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** SLIPWAY_CRASH_LOG=<file>: the stack logs at info level there, across every restart. */
const stackLog = process.env.SLIPWAY_CRASH_LOG;

const ports = { http: 0, ws: 0, dynamo: 0 };
let stack: ChildProcess | undefined;
const httpUrl = () => `http://127.0.0.1:${ports.http}`;

/** Starts the stack as `npm start` does, in a process group of its own (so a kill takes DynamoDB Local too). */
async function start(): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "infra/local/start.ts",
      "--data-dir",
      dataDir,
      "--port",
      String(ports.http),
      "--ws-port",
      String(ports.ws),
      "--dynamodb-port",
      String(ports.dynamo),
      "--log-level",
      stackLog ? "info" : "error",
    ],
    {
      cwd: root,
      detached: true,
      stdio: stackLog ? ["ignore", openSync(stackLog, "a"), openSync(stackLog, "a")] : ["ignore", "ignore", "inherit"],
      env: { ...process.env, LOG_FORMAT: "json" },
    },
  );
  stack = child;
  await eventually(async () => {
    try {
      return (await fetch(`${httpUrl()}/healthz`)).status < 500;
    } catch {
      return false;
    }
  }, 90_000);
}

function kill(): Promise<void> {
  const child = stack;
  if (!child?.pid) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    process.kill(-child.pid!, "SIGKILL");
  });
}

const secrets = () => JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as { adminApiKey: string };

async function api(path: string, method = "GET", body?: unknown) {
  const res = await fetch(`${httpUrl()}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${secrets().adminApiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const received: InstructionMessage[] = [];
let agents: FakeAgent[] = [];
const tokens: Record<string, string> = {};

async function connectAgents(): Promise<void> {
  agents = ["k8s-staging", "k8s-production"].map(
    (runtime) =>
      new FakeAgent(`ws://127.0.0.1:${ports.ws}/local`, runtime, tokens[runtime]!, {
        onInstruction: (i) => received.push(i),
      }),
  );
  for (const agent of agents)
    await eventually(
      () =>
        agent.connect().then(
          () => true,
          () => false,
        ),
      30_000,
    );
}

function application(name: string): object[] {
  return [
    {
      application: {
        name,
        releaseChannels: [
          { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
          { name: "production", runtimes: [{ runtime: "k8s-production" }], constants: { replicas: 3 } },
        ],
      },
    },
    { service: { ...docs.api.service, name: `${name}-api`, application: name } },
  ];
}

describe("crashes", () => {
  it("lose no accepted release, apply nothing twice, and leave the log without gaps or duplicates", async () => {
    Object.assign(ports, { http: await freePort(), ws: await freePort(), dynamo: await freePort() });
    await start();
    expect((await api("/v1/configs", "PUT", [docs.staging, docs.production])).status).toBe(200);
    for (const runtime of ["k8s-staging", "k8s-production"])
      tokens[runtime] = (await api(`/v1/runtimes/${runtime}/link`, "POST")).body.token as string;

    const accepted: { app: string; releaseId: string }[] = [];
    for (let round = 0; round < KILLS; round++) {
      await connectAgents();
      for (let i = 0; i < RELEASES_PER_ROUND; i++) {
        const app = `crash-${round}-${i}`;
        expect((await api("/v1/configs", "PUT", application(app))).status).toBe(200);
        const res = await api("/v1/webhooks/ci", "POST", {
          application: app,
          service: `${app}-api`,
          params: { image: `registry.example.com/${app}/api:1.0.${round}` },
        });
        expect(res.status).toBe(202);
        accepted.push({ app, releaseId: res.body.releaseId as string });
      }
      // Somewhere in the middle of what those releases set off.
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      await kill();
      for (const agent of agents) await agent.close();
      await start();
    }
    await connectAgents();

    const converged = async ({ releaseId }: { releaseId: string }) =>
      (
        ((await api(`/v1/releases/${releaseId}`)).body.channels as
          { name: string; deployment: string }[] | undefined) ?? []
      ).some((c) => c.name === "production" && c.deployment === "converged");
    await eventually(async () => (await Promise.all(accepted.map(converged))).every(Boolean), 180_000).catch(
      () => undefined,
    );
    const lost = (await Promise.all(accepted.map(async (r) => ((await converged(r)) ? [] : [r.releaseId])))).flat();
    // What a lost release looks like, for whoever reads a red run: its view and its log.
    for (const releaseId of lost)
      console.error(
        `lost ${releaseId}:\n${JSON.stringify((await api(`/v1/releases/${releaseId}`)).body, null, 1)}\n${JSON.stringify(
          (await api(`/v1/releases/${releaseId}/events`)).body,
          null,
          1,
        )}`,
      );

    // A release is dispatched to a runtime of a channel once; redeliveries reuse the instruction id.
    const dispatches = new Map<string, Set<string>>();
    for (const i of received.filter((i) => !i.rollback)) {
      const key = `${i.releaseId}/${i.channel}/${i.runtime}`;
      dispatches.set(key, (dispatches.get(key) ?? new Set()).add(i.instructionId));
    }
    const appliedTwice = [...dispatches].filter(([, ids]) => ids.size > 1).map(([key]) => key);

    expect(received.length).toBeGreaterThanOrEqual(accepted.length * 2);
    const problems = await logProblems();
    for (const agent of agents) await agent.close();
    await kill();
    record("crash", {
      kills: KILLS,
      releases: accepted.length,
      lost: lost.length,
      duplicated: appliedTwice.length + problems.length,
    });
    expect(lost).toEqual([]);
    expect(appliedTwice).toEqual([]);
    expect(problems).toEqual([]);
  });
});

/** Every stream must run 1, 2, 3 … and no event id may appear twice. */
async function logProblems(): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${ports.dynamo}`,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const versions = new Map<string, number[]>();
  const ids = new Map<string, number>();
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: "slipway-local-events", ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const stream = item.stream?.S ?? "";
      const version = Number(item.version?.N);
      if (stream.startsWith("command#") || version === 0) continue;
      versions.set(stream, [...(versions.get(stream) ?? []), version]);
      const id = item.eventId?.S;
      if (id) ids.set(id, (ids.get(id) ?? 0) + 1);
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  client.destroy();
  const problems: string[] = [];
  for (const [stream, vs] of versions) {
    const sorted = vs.sort((a, b) => a - b);
    if (sorted.some((v, i) => v !== i + 1)) problems.push(`${stream}: versions ${sorted.join(",")}`);
  }
  for (const [id, n] of ids) if (n > 1) problems.push(`event ${id} recorded ${n} times`);
  return problems;
}
