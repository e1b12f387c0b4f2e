import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { invocationCounts } from "../../infra/local/lambda.js";
import { startAgents } from "./agents.js";
import type { Flow } from "./flow.js";
import { pool } from "../../functions/services/pool.js";
import { figure, median, round } from "./figures.js";
import { kindsNow, kindsSince } from "./meter.js";

/**
 * Releases to a channel of `count` runtimes, each with its agent connected (in a child process, so
 * the gateway's memory is measured without them), `rounds` of them: before each, `count` raw
 * PostToConnection sends on the same gateway; then one webhook, until every agent has its
 * instruction. Each round asserts that every agent got exactly one instruction for the release and
 * that the server recorded its ack; a round that fails stops the figure (no flattering number).
 * And the gateway's memory per idle connection.
 */
export async function fanOut(flow: Flow, count: number, rounds: number, log: (line: string) => void) {
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
  /** Per release id (or `raw-<round>`): per runtime, when each message for it arrived (epoch ms). */
  const received = new Map<string, Map<string, number[]>>();
  let refusals = 0;
  let onLine = () => undefined as void;
  const child = await startAgents(flow.stack.wsUrl, agents, (line) => {
    const [kind, runtime, at, tag] = line.split(" ");
    if (kind === "error") refusals += 1;
    if (kind !== "instruction" && kind !== "raw") return;
    if (!received.has(tag!)) received.set(tag!, new Map());
    const times = received.get(tag!)!;
    times.set(runtime!, [...(times.get(runtime!) ?? []), Number(at)]);
    onLine();
  });
  // Each connect makes the stack look for unfinished instructions; wait until it is idle again (or a minute).
  const quiet = async () => {
    const total = () => Object.values(invocationCounts).reduce((a, b) => a + b, 0);
    for (let last = -1, still = 0, deadline = Date.now() + 60_000; still < 8 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 250));
      const now = total();
      still = now === last ? still + 1 : 0;
      last = now;
    }
  };
  await quiet();
  const after = memory();
  log(`fan-out: ${count} agents connected`);
  /** Resolves with how many runtimes had a message tagged `tag` once all had, or when `timeoutMs` ran out. */
  const reached = (tag: () => string | undefined, timeoutMs: number) =>
    new Promise<number>((resolve) => {
      const size = () => received.get(tag() ?? "")?.size ?? 0;
      const timer = setTimeout(() => resolve(size()), timeoutMs);
      onLine = () => {
        if (size() >= count) {
          clearTimeout(timer);
          resolve(size());
        }
      };
      onLine();
    });
  const firstArrivals = (tag: string) => [...(received.get(tag)?.values() ?? [])].map((t) => t[0]!);

  // The raw sends go to the connections the $connect handler indexed.
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

  /** How many runtimes the application view shows with this release's instruction acknowledged (or further). */
  const acked = async (releaseId: string) => {
    const view = (await flow.api("/v1/applications/fanout")) as {
      channels: { services: Record<string, { runtimes?: Record<string, { releaseId: string; status: string }> }> }[];
    };
    const applied = Object.values(view.channels[0]?.services.fan?.runtimes ?? {});
    return applied.filter((a) => a.releaseId === releaseId && a.status !== "dispatched").length;
  };

  const done = [];
  let failure: string | undefined;
  for (let r = 0; r < rounds && !failure; r++) {
    const rawTag = `raw-${r}`;
    const rawDone = reached(() => rawTag, 60_000);
    const rawStart = performance.timeOrigin + performance.now();
    await pool(connections.length, 16, async (i) => {
      await management.send(
        new PostToConnectionCommand({ ConnectionId: connections[i]!, Data: JSON.stringify({ kind: "raw", n: r }) }),
      );
    });
    const rawReached = await rawDone;
    const rawSendsMs = Math.max(...firstArrivals(rawTag)) - rawStart;

    let releaseId: string | undefined;
    const kinds = kindsNow();
    const instructionsDone = reached(() => releaseId, INSTRUCTION_TIMEOUT_MS);
    const sent = await flow.webhook("fanout", "fan", `1.0.${r}`);
    releaseId = sent.releaseId;
    onLine();
    const instructed = await instructionsDone;
    const sentEpoch = performance.timeOrigin + sent.sentAt;
    const arrivals = firstArrivals(releaseId).sort((a, b) => a - b);
    const allInstructedMs = instructed >= count ? arrivals.at(-1)! - sentEpoch : NaN;
    // The server's record of the acks follows the agents within moments; redeliveries would too.
    let ackedCount = await acked(releaseId);
    for (const deadline = Date.now() + ACK_TIMEOUT_MS; ackedCount < count && Date.now() < deadline;) {
      await new Promise((res) => setTimeout(res, 2000));
      ackedCount = await acked(releaseId);
    }
    await quiet();
    const perAgent = [...(received.get(releaseId)?.values() ?? [])].map((t) => t.length);
    const round_ = {
      releaseId,
      rawSendsMs: round(rawSendsMs, 1),
      rawReached,
      instructed,
      exactlyOnce: perAgent.filter((n) => n === 1).length,
      moreThanOnce: perAgent.filter((n) => n > 1).length,
      acked: ackedCount,
      refusalsSoFar: refusals,
      firstInstructedMs: round(arrivals[0]! - sentEpoch, 1),
      medianInstructedMs: round(arrivals[Math.floor(arrivals.length / 2)]! - sentEpoch, 1),
      allInstructedMs: round(allInstructedMs, 1),
      ratio: round(allInstructedMs / rawSendsMs),
      /** Every DynamoDB request of the round (its release, the acks, reports, projections), by kind. */
      requests: kindsSince(kinds),
    };
    done.push(round_);
    log(
      `fan-out round ${r + 1}/${rounds}: ${instructed} of ${count} instructed (${round_.exactlyOnce} exactly once), ${ackedCount} acked, all in ${round_.allInstructedMs} ms vs ${round_.rawSendsMs} ms raw`,
    );
    if (instructed < count)
      failure = `round ${r + 1}: only ${instructed} of ${count} agents instructed after ${INSTRUCTION_TIMEOUT_MS / 1000} s`;
    else if (round_.exactlyOnce < count || ackedCount < count)
      failure = `round ${r + 1}: ${round_.exactlyOnce} of ${count} agents got exactly one instruction (${round_.moreThanOnce} more than one); ${ackedCount} acks recorded ${ACK_TIMEOUT_MS / 1000} s after the last arrived`;
    else if (rawReached < count) failure = `round ${r + 1}: only ${rawReached} of ${count} raw sends arrived`;
  }
  child.stop();
  management.destroy();
  db.destroy();

  const last = done.at(-1)!;
  const value = failure ? null : median(done.map((d) => d.ratio));
  return {
    figures: [
      figure(
        "fanout_1000_ratio",
        value,
        {
          measured: failure
            ? `${last.instructed} of ${count} instructed, ${last.acked} acked`
            : `all ${count} instructed once and acked, in ${round(median(done.map((d) => d.allInstructedMs)), 1)} ms`,
          floor: `${round(median(done.map((d) => d.rawSendsMs)), 1)} ms for ${count} raw sends`,
          runs: failure ? `stopped at round ${done.length}` : `median of ${done.length} rounds`,
        },
        failure ??
          `all ${count} agents instructed exactly once and their acks recorded, in each of ${done.length} rounds${count === 1000 ? "" : ` (${count} agents, not 1,000: --quick)`}`,
      ),
    ],
    details: {
      agents: count,
      connections: connections.length,
      rawSendConcurrency: 16,
      rounds: done,
      ...(failure ? { failure } : {}),
      bytesPerIdleConnection: Math.round((after.rss - before.rss) / count),
      heapBytesPerIdleConnection: Math.round((after.heapUsed - before.heapUsed) / count),
      memoryNote: gc ? "after a forced GC" : "without a forced GC (run with --expose-gc for a steadier figure)",
    },
  };
}

const INSTRUCTION_TIMEOUT_MS = 150_000;
const ACK_TIMEOUT_MS = 30_000;
