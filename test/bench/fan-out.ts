import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { invocationCounts } from "../../infra/local/lambda.js";
import type { Flow } from "./flow.js";
import { pool } from "../../functions/services/pool.js";

/**
 * One release to a channel of `count` runtimes, each with its agent connected: the time until every
 * agent has its instruction, against `count` raw PostToConnection sends on the same gateway; and the
 * gateway's memory per idle connection (the agents run in a child process).
 */
export async function fanOut(flow: Flow, count: number, log: (line: string) => void) {
  const runtimes = Array.from({ length: count }, (_, i) => `fan-${String(i).padStart(4, "0")}`);
  const manifest =
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: fan\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{.Params.image}}"\n';
  // One config PUT is one append (at most 98 events): the runtimes go in slices first.
  for (let i = 0; i < count; i += 90)
    await flow.applyConfigs(runtimes.slice(i, i + 90).map((name) => ({ runtime: { name, kubernetes: {} } })));
  await flow.applyConfigs([
    {
      application: {
        name: "fanout",
        releaseChannels: [{ name: "all", runtimes: runtimes.map((runtime) => ({ runtime })) }],
      },
    },
    {
      service: {
        name: "fan",
        application: "fanout",
        parameters: [{ name: "image", type: "dockerImage", required: true }],
        kubernetesConfig: { manifests: [manifest] },
      },
    },
  ]);
  const agents: { runtime: string; token: string }[] = [];
  await pool(count, 8, async (i) => {
    agents.push({
      runtime: runtimes[i]!,
      token: (await flow.api(`/v1/runtimes/${runtimes[i]}/link`, "POST")).token as string,
    });
  });
  log(`fan-out: ${count} runtimes configured and linked`);

  const gc = (globalThis as { gc?: () => void }).gc;
  const memory = () => {
    gc?.();
    return process.memoryUsage();
  };
  const before = memory();
  const file = join(mkdtempSync(join(tmpdir(), "slipway-fanout-")), "agents.json");
  writeFileSync(file, JSON.stringify({ url: flow.stack.wsUrl, agents }));
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "agents-child.ts"), file], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const seen = { instruction: new Map<string, number>(), raw: new Map<string, number>() };
  let onLine = () => undefined as void;
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") return resolve();
      const [kind, runtime, at] = line.split(" ");
      const map = kind === "instruction" ? seen.instruction : kind === "raw" ? seen.raw : undefined;
      if (map && !map.has(runtime!)) map.set(runtime!, Number(at));
      onLine();
    });
  });
  await ready;
  // Each connect makes the reactor look for unfinished instructions; wait until it is idle again.
  for (let last = -1, quiet = 0; quiet < 8;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = invocationCounts.reactor ?? 0;
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  const after = memory();
  log(`fan-out: ${count} agents connected`);
  const until = (map: Map<string, number>, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fan-out: only ${map.size} of ${count} agents received it within ${timeoutMs} ms`)),
        timeoutMs,
      );
      onLine = () => {
        if (map.size >= count) {
          clearTimeout(timer);
          resolve();
        }
      };
      onLine();
    });

  // Raw: count PostToConnection calls, 16 at a time, to the connections the $connect handler indexed.
  const db = documentClient({
    endpoint: flow.stack.dynamoEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const connections: string[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: flow.stack.tables.readModels,
        FilterExpression: "begins_with(pk, :p)",
        ExpressionAttributeValues: { ":p": "connection#" },
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? [])
      if (String(item.runtime).startsWith("fan-")) connections.push(String(item.connectionId));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  const management = new ApiGatewayManagementApiClient({
    endpoint: flow.stack.managementEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const rawDone = until(seen.raw, 60_000);
  const rawStart = performance.timeOrigin + performance.now();
  await pool(connections.length, 16, async (i) => {
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connections[i]!, Data: JSON.stringify({ kind: "raw", n: i }) }),
    );
  });
  await rawDone;
  const rawSendsMs = Math.max(...seen.raw.values()) - rawStart;

  // The release: one webhook, until every agent has its instruction.
  const done = until(seen.instruction, 150_000);
  const { sentAt } = await flow.webhook("fanout", "fan", "1.0.0");
  const sentEpoch = performance.timeOrigin + sentAt;
  let error: string | undefined;
  await done.catch((err: Error) => (error = err.message));
  const allInstructedMs = seen.instruction.size ? Math.max(...seen.instruction.values()) - sentEpoch : NaN;
  child.stdin.end();
  management.destroy();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    agents: count,
    connections: connections.length,
    instructed: seen.instruction.size,
    ...(error ? { error } : {}),
    firstInstructedMs: round(Math.min(...seen.instruction.values()) - sentEpoch),
    medianInstructedMs: round(
      [...seen.instruction.values()].sort((a, b) => a - b)[Math.floor(seen.instruction.size / 2)]! - sentEpoch,
    ),
    allInstructedMs: round(allInstructedMs),
    rawSendsMs: round(rawSendsMs),
    rawSendConcurrency: 16,
    ratio: round(allInstructedMs / rawSendsMs),
    target: 3,
    met: !error && allInstructedMs / rawSendsMs <= 3,
    bytesPerIdleConnection: Math.round((after.rss - before.rss) / count),
    heapBytesPerIdleConnection: Math.round((after.heapUsed - before.heapUsed) / count),
    memoryNote: gc ? "after a forced GC" : "without a forced GC (run with --expose-gc for a steadier figure)",
  };
}
