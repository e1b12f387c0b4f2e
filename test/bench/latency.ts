import { invocationCounts, invocationMillis } from "../../infra/local/lambda.js";
import { pool } from "../../functions/services/pool.js";
import { figure, log, median, round } from "./figures.js";
import { webSocketFloor, type DynamoFloor } from "./floors.js";
import type { Flow } from "./flow.js";
import { kindsNow, kindsSince, since, snapshot } from "./meter.js";
import { summarize, type Summary } from "./stats.js";

/**
 * What one user feels on the in-process stack: a CI webhook until the instruction is at the staging
 * agent, a Slack approval until the production instruction is, release throughput at concurrency
 * 16, and what one two-channel release costs. Each in repetitions, each repetition beside a floor
 * measured just before it; the figure is the median of the repetitions.
 */

export const CONCURRENCY = 16;

const manifest =
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{.Builtins.Service}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{.Params.image}}"\n';
const service = (name: string, application: string) => ({
  service: {
    name,
    application,
    parameters: [{ name: "image", type: "dockerImage", required: true }],
    kubernetesConfig: { manifests: [manifest] },
  },
});

/** `shop`: staging, then production behind a manual approval, one runtime and agent each. */
export async function setUpShop(flow: Flow): Promise<void> {
  await flow.applyConfigs([
    { runtime: { name: "k8s-staging", kubernetes: {} } },
    { runtime: { name: "k8s-production", kubernetes: {} } },
    {
      application: {
        name: "shop",
        releaseChannels: [
          { name: "staging", runtimes: [{ runtime: "k8s-staging" }] },
          { name: "production", runtimes: [{ runtime: "k8s-production" }], preconditions: [{ manualApproval: {} }] },
        ],
      },
    },
    service("api", "shop"),
  ]);
  await flow.agent("k8s-staging");
  await flow.agent("k8s-production");
}

export async function latencies(
  flow: Flow,
  floor: DynamoFloor,
  counts: { rounds: number; releases: number; floorSamples: number },
) {
  const rounds: { floorMs: number; putMs: Summary; webSocketMs: Summary; webhookMs: Summary; approvalMs: Summary }[] =
    [];
  for (let r = 0; r < counts.rounds; r++) {
    const put = await floor.putLatencyMs(counts.floorSamples);
    const ws = await webSocketFloor(counts.floorSamples);
    const floorMs = put.p50 + ws.p50;
    const webhook: number[] = [];
    const approval: number[] = [];
    for (let i = 0; i < counts.releases; i++) {
      const { releaseId, sentAt } = await flow.webhook("shop", "api", `1.${r}.${i}`);
      webhook.push((await flow.instructionAt("staging", releaseId, "k8s-staging")) - sentAt);
      const clicked = await flow.approve(await flow.approvalRequest(releaseId));
      approval.push((await flow.instructionAt("production", releaseId, "k8s-production")) - clicked);
    }
    const done = { floorMs: round(floorMs, 3), putMs: put, webSocketMs: ws, webhookMs: summarize(webhook) };
    rounds.push({ ...done, approvalMs: summarize(approval) });
    log(
      `latency round ${r + 1}/${counts.rounds}: floor ${done.floorMs} ms; webhook p50 ${done.webhookMs.p50} ms, approval p50 ${summarize(approval).p50} ms`,
    );
  }
  const runs = `median of ${rounds.length} rounds × ${counts.releases}`;
  const floorMs = round(median(rounds.map((r) => r.floorMs)), 3);
  const of = (name: Parameters<typeof figure>[0], key: "webhookMs" | "approvalMs", p: "p50" | "p99") =>
    figure(name, median(rounds.map((r) => r[key][p] / r.floorMs)), {
      measured: `${p} ${round(median(rounds.map((r) => r[key][p])), 1)} ms`,
      floor: `${floorMs} ms (PutItem + WebSocket message, p50)`,
      runs,
    });
  return {
    figures: [
      of("webhook_to_agent_p50", "webhookMs", "p50"),
      of("webhook_to_agent_p99", "webhookMs", "p99"),
      of("approval_to_production_p50", "approvalMs", "p50"),
      of("approval_to_production_p99", "approvalMs", "p99"),
    ],
    details: { floorMs, rounds },
  };
}

export async function throughput(
  flow: Flow,
  floor: DynamoFloor,
  counts: { rounds: number; releases: number; floorWrites: number },
) {
  const apps = Array.from({ length: CONCURRENCY }, (_, i) => `tp${String(i).padStart(2, "0")}`);
  await flow.applyConfigs(
    apps.flatMap((a) => [
      { application: { name: a, releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }] }] } },
      service(`svc-${a}`, a),
    ]),
  );
  const rounds = [];
  for (let r = 0; r < counts.rounds; r++) {
    const putsPerSecond = await floor.putsPerSecond(counts.floorWrites, CONCURRENCY);
    const started = performance.now();
    await pool(counts.releases, CONCURRENCY, async (i) => {
      const app = apps[i % CONCURRENCY]!;
      const { releaseId } = await flow.webhook(app, `svc-${app}`, `2.${r}.${i}`);
      await flow.instructionAt("staging", releaseId, "k8s-staging", 120_000);
    });
    const releasesPerSecond = counts.releases / ((performance.now() - started) / 1000);
    rounds.push({
      releasesPerSecond: round(releasesPerSecond),
      putsPerSecond: round(putsPerSecond),
      ratio: round(releasesPerSecond / putsPerSecond, 4),
    });
    log(`throughput round ${r + 1}/${counts.rounds}: ${rounds.at(-1)!.releasesPerSecond} releases/s`);
  }
  return {
    figures: [
      figure("throughput_ratio", median(rounds.map((r) => r.ratio)), {
        measured: `${round(median(rounds.map((r) => r.releasesPerSecond)))} releases/s`,
        floor: `${round(median(rounds.map((r) => r.putsPerSecond)))} PutItem/s`,
        runs: `median of ${rounds.length} rounds × ${counts.releases}`,
      }),
    ],
    details: { concurrency: CONCURRENCY, releasesPerRound: counts.releases, rounds },
  };
}

/** On-demand list prices, us-east-1, USD (AWS pricing pages, 2026): what the cost figure converts with. */
const PRICES = {
  dynamoWriteRequestUnit: 0.625 / 1e6,
  dynamoReadRequestUnit: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecondArm: 0.0000133334,
  httpApiRequest: 1.0 / 1e6,
  webSocketMessage: 1.0 / 1e6,
};
const LAMBDA_MEMORY_GB = 0.5;

/** One two-channel release of `shop` at a time (webhook, approval, both deployments), counted as AWS would bill it. */
export async function cost(flow: Flow, releases: number) {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const counted = [];
  await sleep(3000); // let earlier work drain
  for (let r = 0; r < releases; r++) {
    const usage = snapshot();
    const kinds = kindsNow();
    const invocations = { ...invocationCounts };
    const millis = { ...invocationMillis };
    let httpRequests = 0;
    let httpMillis = 0;
    const timed = async <T>(f: () => Promise<T>) => {
      const t = performance.now();
      const result = await f();
      httpRequests += 1;
      httpMillis += performance.now() - t;
      return result;
    };
    const { releaseId } = await timed(() => flow.webhook("shop", "api", `9.${r}.0`));
    const value = await flow.approvalRequest(releaseId);
    await timed(() => flow.approve(value));
    await flow.instructionAt("production", releaseId, "k8s-production");
    await sleep(3000); // acks, reports, convergence and projections
    const used = since(usage);
    const delta = (now: Record<string, number>, before: Record<string, number>, keep = (_: string) => true) =>
      Object.entries(now)
        .filter(([k]) => keep(k))
        .reduce((n, [k, v]) => n + v - (before[k] ?? 0), 0);
    const lambdaInvocations = delta(invocationCounts, invocations) + httpRequests;
    const lambdaMs = delta(invocationMillis, millis) + httpMillis;
    // Each message an agent sends is one WebSocket message and one invocation of its route.
    const agentMessagesIn = delta(
      invocationCounts,
      invocations,
      (k) => k.startsWith("ws-") && k !== "ws-connect" && k !== "ws-disconnect",
    );
    const usd = {
      dynamoWrites: used.writeUnits * PRICES.dynamoWriteRequestUnit,
      dynamoReads: used.readUnits * PRICES.dynamoReadRequestUnit,
      sqs: used.sqsRequests * PRICES.sqsRequest,
      lambdaRequests: lambdaInvocations * PRICES.lambdaRequest,
      lambdaDuration: (lambdaMs / 1000) * LAMBDA_MEMORY_GB * PRICES.lambdaGbSecondArm,
      httpApi: httpRequests * PRICES.httpApiRequest,
      webSocketMessages: (used.postToConnection + agentMessagesIn) * PRICES.webSocketMessage,
    };
    counted.push({
      ...used,
      requests: kindsSince(kinds),
      lambdaInvocations,
      lambdaMs: round(lambdaMs, 1),
      httpApiRequests: httpRequests,
      agentMessagesIn,
      usd: Object.fromEntries(Object.entries(usd).map(([k, v]) => [k, Number(v.toPrecision(3))])),
      totalUsd: Number(
        Object.values(usd)
          .reduce((a, b) => a + b, 0)
          .toPrecision(3),
      ),
    });
    log(`cost release ${r + 1}/${releases}: ${used.dynamoRequests} DynamoDB requests, $${counted.at(-1)!.totalUsd}`);
  }
  const runs = `median of ${counted.length} releases`;
  const requests = median(counted.map((c) => c.dynamoRequests));
  return {
    figures: [
      figure("requests_per_release", requests, {
        measured: `${requests} requests (${median(counted.map((c) => c.writeUnits))} WCU, ${median(counted.map((c) => c.readUnits))} RCU)`,
        runs,
      }),
      figure("cost_per_release_usd", median(counted.map((c) => c.totalUsd)), {
        measured: "list prices × counted requests, Lambda time, messages",
        runs,
      }),
    ],
    details: { releases: counted, prices: PRICES, lambdaMemoryGb: LAMBDA_MEMORY_GB },
  };
}
