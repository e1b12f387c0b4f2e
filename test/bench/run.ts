/**
 * `npm run bench`: what users feel, measured on the local stack, each figure set against a floor
 * measured in the same run (absolute times drift on shared machines; ratios hold). Prints a table
 * and writes test/bench/results.json. `npm run bench -- --quick` runs smaller counts, for a try.
 * Never part of `npm test`.
 */
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { invocationCounts, invocationMillis } from "../../infra/local/lambda.js";
import { startLocalStack } from "../../infra/local/stack.js";
import { coldStarts } from "./cold-start.js";
import { dashboardRender, dashboardScripts } from "./dashboard.js";
import { fanOut } from "./fan-out.js";
import { dynamoFloor, webSocketFloor } from "./floors.js";
import { Flow } from "./flow.js";
import { installMeter, since, snapshot } from "./meter.js";
import { rebuild } from "./rebuild.js";
import { pool } from "../../functions/services/pool.js";
import { summarize } from "./stats.js";

const quick = process.argv.includes("--quick");
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice(7)
  .split(",");
const counts = quick
  ? {
      releases: 30,
      floorSamples: 100,
      throughput: 64,
      floorWrites: 1000,
      fanOut: 100,
      rebuild: 10_000,
      coldRuns: 3,
      pageRuns: 20,
    }
  : {
      releases: 200,
      floorSamples: 300,
      throughput: 320,
      floorWrites: 4000,
      fanOut: 1000,
      rebuild: 100_000,
      coldRuns: 10,
      pageRuns: 100,
    };
const CONCURRENCY = 16;
const wants = (figure: string) => !only || only.includes(figure);
const log = (line: string) => console.error(`bench: ${line}`);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

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

const results: Record<string, unknown> = {};
const rows: [string, string, string, string, string][] = [];
const row = (figure: string, value: string, floor: string, ratio: string, target: string) =>
  rows.push([figure, value, floor, ratio, target]);

installMeter();
const flow = new Flow();
await flow.listenForSlack();
const stack = await startLocalStack({ stage: "bench" });
flow.use(stack);
log(`local stack up (DynamoDB Local ${stack.dynamoEndpoint})`);

try {
  // ── floors ───────────────────────────────────────────────────────────────────────────────
  const dynamo = await dynamoFloor(stack.dynamoEndpoint, counts.floorSamples, CONCURRENCY, counts.floorWrites);
  const ws = await webSocketFloor(counts.floorSamples);
  const floorMs = dynamo.putLatencyMs.p50 + ws.p50;
  results.floors = {
    conditionalPutItemMs: dynamo.putLatencyMs,
    webSocketRoundTripMs: ws,
    latencyFloorMs: round(floorMs, 3),
    conditionalPutItemsPerSecondAt16: round(dynamo.putsPerSecond, 1),
  };
  log(
    `floors: PutItem p50 ${dynamo.putLatencyMs.p50} ms + WebSocket round trip p50 ${ws.p50} ms = ${round(floorMs, 3)} ms; ${round(dynamo.putsPerSecond)} PutItem/s at ${CONCURRENCY}`,
  );

  const staging = { runtime: { name: "k8s-staging", kubernetes: {} } };
  const production = { runtime: { name: "k8s-production", kubernetes: {} } };
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
  const shop = {
    application: {
      name: "shop",
      releaseChannels: [
        { name: "staging", runtimes: [{ runtime: "k8s-staging" }] },
        { name: "production", runtimes: [{ runtime: "k8s-production" }], preconditions: [{ manualApproval: {} }] },
      ],
    },
  };
  await flow.applyConfigs([staging, production, shop, service("api", "shop")]);
  await flow.agent("k8s-staging");
  await flow.agent("k8s-production");

  // ── 1 & 2: webhook → staging instruction; Slack approval → production instruction ────────
  if (wants("latency")) {
    const webhook: number[] = [];
    const approval: number[] = [];
    for (let i = 0; i < counts.releases; i++) {
      const { releaseId, sentAt } = await flow.webhook("shop", "api", `1.0.${i}`);
      webhook.push((await flow.instructionAt("staging", releaseId, "k8s-staging")) - sentAt);
      const value = await flow.approvalRequest(releaseId);
      const clicked = await flow.approve(value);
      approval.push((await flow.instructionAt("production", releaseId, "k8s-production")) - clicked);
      if ((i + 1) % 50 === 0) log(`latency: ${i + 1}/${counts.releases} releases`);
    }
    for (const [key, label, samples] of [
      ["webhookToInstruction", "1. CI webhook → instruction at agent", webhook],
      ["slackApprovalToInstruction", "2. Slack approval → production instruction", approval],
    ] as const) {
      const s = summarize(samples);
      const ratios = { p50: round(s.p50 / floorMs), p95: round(s.p95 / floorMs), p99: round(s.p99 / floorMs) };
      results[key] = {
        ms: s,
        floorMs: round(floorMs, 3),
        ratios,
        targets: { p50: 4, p99: 10 },
        met: ratios.p50 <= 4 && ratios.p99 <= 10,
      };
      row(
        label,
        `p50 ${s.p50} / p95 ${s.p95} / p99 ${s.p99} ms`,
        `${round(floorMs, 3)} ms`,
        `${ratios.p50}× / ${ratios.p95}× / ${ratios.p99}×`,
        "p50 ≤ 4×, p99 ≤ 10×",
      );
    }
  }

  // ── 3: sustained throughput at concurrency 16 ─────────────────────────────────────────────
  if (wants("throughput")) {
    const apps = Array.from({ length: CONCURRENCY }, (_, i) => `tp${String(i).padStart(2, "0")}`);
    await flow.applyConfigs(
      apps.flatMap((a) => [
        { application: { name: a, releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }] }] } },
        service(`svc-${a}`, a),
      ]),
    );
    const started = performance.now();
    await pool(counts.throughput, CONCURRENCY, async (i) => {
      const app = apps[i % CONCURRENCY]!;
      const { releaseId } = await flow.webhook(app, `svc-${app}`, `2.0.${i}`);
      await flow.instructionAt("staging", releaseId, "k8s-staging", 120_000);
    });
    const perSecond = counts.throughput / ((performance.now() - started) / 1000);
    const ratio = perSecond / dynamo.putsPerSecond;
    results.throughput = {
      releases: counts.throughput,
      concurrency: CONCURRENCY,
      releasesPerSecond: round(perSecond),
      floorPutItemsPerSecond: round(dynamo.putsPerSecond),
      ratio: round(ratio, 4),
      target: 0.25,
      met: ratio >= 0.25,
    };
    row(
      "3. Releases dispatched/s at 16",
      `${round(perSecond)} /s`,
      `${round(dynamo.putsPerSecond)} PutItem/s`,
      `${round(ratio, 4)}`,
      "≥ 0.25",
    );
  }

  // ── 4: cost of one full two-channel release ──────────────────────────────────────────────
  if (wants("cost")) {
    await new Promise((r) => setTimeout(r, 3000)); // let earlier work drain
    const usage = snapshot();
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
    const { releaseId } = await timed(() => flow.webhook("shop", "api", "9.9.9"));
    const value = await flow.approvalRequest(releaseId);
    await timed(() => flow.approve(value));
    await flow.instructionAt("production", releaseId, "k8s-production");
    await new Promise((r) => setTimeout(r, 3000)); // acks, reports, convergence and projections
    const used = since(usage);
    const lambdaInvocations =
      Object.entries(invocationCounts).reduce((n, [k, v]) => n + v - (invocations[k] ?? 0), 0) + httpRequests;
    const lambdaMs = Object.entries(invocationMillis).reduce((n, [k, v]) => n + v - (millis[k] ?? 0), 0) + httpMillis;
    // Each message an agent sends is one WebSocket message and one invocation of its route.
    const socketInvocations = Object.entries(invocationCounts)
      .filter(([k]) => k.startsWith("ws-") && k !== "ws-connect" && k !== "ws-disconnect")
      .reduce((n, [k, v]) => n + v - (invocations[k] ?? 0), 0);
    const cost = {
      dynamoWrites: used.writeUnits * PRICES.dynamoWriteRequestUnit,
      dynamoReads: used.readUnits * PRICES.dynamoReadRequestUnit,
      sqs: used.sqsRequests * PRICES.sqsRequest,
      lambdaRequests: lambdaInvocations * PRICES.lambdaRequest,
      lambdaDuration: (lambdaMs / 1000) * LAMBDA_MEMORY_GB * PRICES.lambdaGbSecondArm,
      httpApi: httpRequests * PRICES.httpApiRequest,
      webSocketMessages: (used.postToConnection + socketInvocations) * PRICES.webSocketMessage,
    };
    const total = Object.values(cost).reduce((a, b) => a + b, 0);
    results.costPerRelease = {
      counted: {
        ...used,
        lambdaInvocations,
        lambdaMs: round(lambdaMs, 1),
        httpApiRequests: httpRequests,
        agentMessagesIn: socketInvocations,
      },
      usd: Object.fromEntries(Object.entries(cost).map(([k, v]) => [k, Number(v.toPrecision(3))])),
      totalUsd: Number(total.toPrecision(3)),
      prices: PRICES,
      lambdaMemoryGb: LAMBDA_MEMORY_GB,
      target: 0.0001,
      met: total <= 0.0001,
    };
    row("4. Cost of a two-channel release", `$${total.toPrecision(3)}`, "—", "—", "≤ $0.0001");
  }

  // ── 8 & 9: the dashboard's pipeline page, and the JS its pages ship ──────────────────────
  let dashboardPages = ["/login", "/", "/runtimes", "/apps/shop"];
  if (wants("dashboard")) {
    const d = await dashboardRender(flow, counts.pageRuns, dynamo.putLatencyMs.p50, log);
    results.dashboardFirstRender = d;
    dashboardPages = ["/login", "/", "/runtimes", d.path, `/releases/${d.releaseId}`];
    row(
      "8. Dashboard GET /apps (20 services × 4 channels)",
      `first ${round(d.firstMs, 1)} / p50 ${round(d.ms.p50, 1)} / p95 ${round(d.ms.p95, 1)} ms, ${round(d.htmlBytes / 1024, 1)} KB HTML`,
      `${d.floorMs} ms PutItem`,
      `${d.ratios.p50}× / ${d.ratios.p95}×`,
      "≤ 300 ms",
    );
  }
  if (wants("pageweight")) {
    const w = await dashboardScripts(flow, dashboardPages);
    results.dashboardJs = w;
    row(
      "9. Dashboard JS shipped (gzipped)",
      `${w.totalKb} KB (${w.scripts.map((s) => s.name).join(", ")})`,
      "—",
      "—",
      "≤ 100 KB",
    );
  }

  // ── 5: fan-out to 1,000 agents ───────────────────────────────────────────────────────────
  if (wants("fanout")) {
    try {
      const f = await fanOut(flow, counts.fanOut, log);
      results.fanOut = f;
      row(
        `5. Fan-out to ${counts.fanOut} agents`,
        f.error ? `FAILED: ${f.instructed} instructed` : `${f.allInstructedMs} ms`,
        `${f.rawSendsMs} ms raw`,
        `${f.ratio}`,
        "≤ 3",
      );
      row(
        "   gateway memory per idle connection",
        `${f.heapBytesPerIdleConnection} B heap (RSS Δ ${f.bytesPerIdleConnection} B, noisy)`,
        "—",
        "—",
        "report",
      );
    } catch (err) {
      results.fanOut = { error: String(err) };
      row(`5. Fan-out to ${counts.fanOut} agents`, "FAILED (see results.json)", "—", "—", "≤ 3");
      log(`fan-out failed: ${String(err)}`);
    }
  }
} finally {
  await flow.close();
  await stack.stop();
}

// ── 6: cold start ──────────────────────────────────────────────────────────────────────────
if (wants("coldstart")) {
  const c = await coldStarts(counts.coldRuns, log);
  results.coldStart = c;
  for (const f of c.functions)
    row(
      `6. Cold start ${f.handler}`,
      `${f.kb} KB, +${f.initOverEmptyMs} ms`,
      `${c.emptyNodeMs} ms empty node`,
      "—",
      "≤ 300 KB, ≤ 150 ms",
    );
}

// ── 7: rebuild ─────────────────────────────────────────────────────────────────────────────
if (wants("rebuild")) {
  const r = await rebuild(counts.rebuild, log);
  results.rebuild = r;
  row(
    `7. Rebuild of ${counts.rebuild} events`,
    `${r.eventsPerSecond} ev/s`,
    `${r.rawQueryEventsPerSecond} ev/s Query`,
    `${r.ratio}`,
    "≥ 0.5",
  );
}

const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGb: round(totalmem() / 2 ** 30, 1),
  node: process.version,
  os: execFileSync("uname", ["-sr"]).toString().trim(),
};
const output = {
  command: `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  date: new Date().toISOString(),
  machine,
  counts,
  ...results,
};
writeFileSync(resolve(import.meta.dirname, "results.json"), `${JSON.stringify(output, null, 2)}\n`);

const widths = [0, 1, 2, 3, 4].map((i) =>
  Math.max(...[["figure", "value", "floor", "ratio", "target"], ...rows].map((r) => r[i]!.length)),
);
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(
  `\n${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${quick ? " — QUICK RUN, small counts" : ""}\n`,
);
console.log(line(["figure", "value", "floor", "ratio", "target"]));
console.log(widths.map((w) => "─".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(`\nwrote test/bench/results.json`);
process.exit(0);
