/**
 * `npm run bench`: what users feel, measured on the local stack, each figure set against a floor
 * measured in the same run (absolute times drift on shared machines; ratios hold). Prints a table
 * and writes test/bench/results.json as {"machine", "figures": [{name, value, unit, target,
 * better}], …}. `--quick` runs smaller counts, for a try; `--only <group>[,<group>…]` runs some
 * figure groups (see USAGE). Never part of `npm test`.
 */
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalStack } from "../../infra/local/stack.js";
import { coldStarts } from "./cold-start.js";
import { dashboardRender, dashboardScripts } from "./dashboard.js";
import { fanOut } from "./fan-out.js";
import { figure, log, met, printed, round, table, TARGETS, type FigureName, type Measured } from "./figures.js";
import { dynamoFloor } from "./floors.js";
import { Flow } from "./flow.js";
import { cost, latencies, setUpShop, throughput } from "./latency.js";
import { installMeter } from "./meter.js";
import { rebuild } from "./rebuild.js";
import { sustained } from "./sustained.js";

/** The figure groups `--only` names, and the figures each measures. */
const GROUPS = {
  latency: ["webhook_to_agent_p50", "webhook_to_agent_p99", "approval_to_production_p50", "approval_to_production_p99"],
  throughput: ["throughput_ratio"],
  cost: ["requests_per_release", "cost_per_release_usd"],
  fanout: ["fanout_1000_ratio"],
  sustained: ["sustained_drain_s", "sustained_rss_mib"],
  coldstart: ["bundle_kb_max", "init_ms_over_node_max"],
  rebuild: ["rebuild_ratio"],
  dashboard: [],
  pageweight: [],
} satisfies Record<string, FigureName[]>;
type Group = keyof typeof GROUPS;
const OTHER: Partial<Record<Group, string>> = {
  dashboard: "(no figure of #18) the dashboard's first render",
  pageweight: "(no figure of #18) the JavaScript the dashboard ships",
};

const USAGE = `usage: npm run bench -- [--quick] [--only <group>[,<group>…]]
  --quick       smaller counts, for a try (a few minutes)
  --only        only these groups, comma- or space-separated (a figure's name stands for its group)
groups:
${Object.entries(GROUPS)
  .map(([g, figures]) => `  ${g.padEnd(12)}  ${figures.join(", ") || OTHER[g as Group]}`)
  .join("\n")}`;

function parse(): { quick: boolean; only?: Set<Group> } {
  const fail = (message: string): never => {
    console.error(`bench: ${message}\n${USAGE}`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: "boolean" },
        only: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length && !values.only) fail(`unexpected argument "${positionals.join(" ")}"`);
  if (!values.only) return { quick: !!values.quick };
  const names = [...values.only, ...positionals].flatMap((s) => s.split(",")).filter((s) => s.trim());
  const groupOf = (name: string) =>
    (Object.keys(GROUPS) as Group[]).find((g) => g === name || (GROUPS[g] as readonly string[]).includes(name));
  const unknown = names.filter((n) => !groupOf(n));
  if (!names.length) fail("--only needs a group");
  if (unknown.length) fail(`no figure group ${unknown.map((n) => `"${n}"`).join(", ")}`);
  return { quick: !!values.quick, only: new Set(names.map((n) => groupOf(n)!)) };
}

const { quick, only } = parse();
const counts = quick
  ? {
      latency: { rounds: 3, releases: 10, floorSamples: 50 },
      throughput: { rounds: 3, releases: 48, floorWrites: 600 },
      costReleases: 3,
      fanOut: { agents: 100, rounds: 3 },
      sustained: { runs: 1, perSecond: 100, seconds: 15, applications: 10, drainCapSeconds: 60, afterSeconds: 10 },
      coldRuns: 3,
      rebuild: { events: 10_000, repetitions: 3 },
      pageRuns: 20,
    }
  : {
      latency: { rounds: 3, releases: 100, floorSamples: 200 },
      throughput: { rounds: 3, releases: 240, floorWrites: 3000 },
      costReleases: 3,
      fanOut: { agents: 1000, rounds: 3 },
      sustained: { runs: 3, perSecond: 100, seconds: 60, applications: 10, drainCapSeconds: 300, afterSeconds: 20 },
      coldRuns: 10,
      rebuild: { events: 50_000, repetitions: 3 },
      pageRuns: 100,
    };
const wants = (group: Group) => !only || only.has(group);
const started = performance.now();

const measured: Measured[] = [];
/** Measurements beside the figures: [what, value, target]. */
const extras: string[][] = [];
const details: Record<string, unknown> = {};

/** Runs one group; a group that throws leaves its figures null with the reason, and the others run. */
async function group(
  name: Group,
  run: () => Promise<{ figures?: Measured[]; extras?: string[][]; details: unknown }>,
): Promise<void> {
  if (!wants(name)) return;
  const t = performance.now();
  try {
    const result = await run();
    measured.push(...(result.figures ?? []));
    extras.push(...(result.extras ?? []));
    details[name] = result.details;
  } catch (err) {
    log(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    details[name] = { error: String(err) };
    for (const f of GROUPS[name] as FigureName[])
      measured.push(
        figure(f, null, { measured: "failed", runs: "—" }, `the ${name} run failed: ${String(err).slice(0, 300)}`),
      );
    if (OTHER[name]) extras.push([name, "FAILED (see results.json)", "—"]);
  }
  log(`${name} took ${Math.round((performance.now() - t) / 1000)} s`);
}

// First, while nothing else runs: process starts are what it times.
await group("coldstart", () => coldStarts(counts.coldRuns, log));

// ── on one in-process stack: latency, throughput, cost, the dashboard, fan-out ───────────────
if ((["latency", "throughput", "cost", "dashboard", "pageweight", "fanout"] as const).some(wants)) {
  installMeter();
  const flow = new Flow();
  await flow.listenForSlack();
  const stack = await startLocalStack({ stage: "bench" });
  flow.use(stack);
  log(`local stack up (DynamoDB Local ${stack.dynamoEndpoint})`);
  const floor = await dynamoFloor(stack.dynamoEndpoint);
  try {
    await setUpShop(flow);
    await group("latency", () => latencies(flow, floor, counts.latency));
    await group("throughput", () => throughput(flow, floor, counts.throughput));
    await group("cost", () => cost(flow, counts.costReleases));
    let pages = ["/login", "/", "/runtimes", "/apps/shop"];
    await group("dashboard", async () => {
      const putMs = (await floor.putLatencyMs(100)).p50;
      const d = await dashboardRender(flow, counts.pageRuns, putMs, log);
      pages = ["/login", "/", "/runtimes", d.path, `/releases/${d.releaseId}`];
      const ms = `first ${round(d.firstMs, 1)} / p50 ${round(d.ms.p50, 1)} / p95 ${round(d.ms.p95, 1)} ms`;
      return {
        extras: [[`dashboard GET ${d.path} (20 services × 4 channels)`, `${ms}, ${d.ratios.p50}× PutItem`, "≤ 300 ms"]],
        details: d,
      };
    });
    await group("pageweight", async () => {
      const w = await dashboardScripts(flow, pages);
      return { extras: [["dashboard JS shipped (gzipped)", `${w.totalKb} KB`, "≤ 100 KB"]], details: w };
    });
    await group("fanout", async () => {
      const f = await fanOut(flow, counts.fanOut.agents, counts.fanOut.rounds, log);
      const perConnection = `${f.details.heapBytesPerIdleConnection} B heap (RSS Δ ${f.details.bytesPerIdleConnection} B, noisy)`;
      return { ...f, extras: [["gateway memory per idle connection", perConnection, "report"]] };
    });
  } finally {
    await floor.close().catch(() => undefined);
    await flow.close();
    await stack.stop();
  }
}

// ── each on a stack, or in processes, of its own ─────────────────────────────────────────────
await group("rebuild", () => rebuild(counts.rebuild.events, counts.rebuild.repetitions, log));
await group("sustained", () => sustained(counts.sustained));

const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGb: round(totalmem() / 2 ** 30, 1),
  node: process.version,
  os: execFileSync("uname", ["-sr"]).toString().trim(),
};
const order = Object.keys(TARGETS);
measured.sort((a, b) => order.indexOf(a.figure.name) - order.indexOf(b.figure.name));
const seconds = Math.round((performance.now() - started) / 1000);
const args = process.argv.slice(2);
writeFileSync(
  resolve(import.meta.dirname, "results.json"),
  `${JSON.stringify(
    {
      machine,
      figures: measured.map((m) => m.figure),
      command: `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}`,
      date: new Date().toISOString(),
      seconds,
      counts,
      details,
    },
    null,
    2,
  )}\n`,
);

console.log(
  `\n${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}, ${machine.os}${quick ? " — QUICK RUN, small counts" : ""}\n`,
);
console.log(table(["figure", "value", "measured", "floor", "target", "met", "runs"], measured.map(printed)));
const notes = measured.filter((m) => m.figure.note);
if (notes.length) console.log(`\nnotes:\n${notes.map((m) => `  ${m.figure.name}: ${m.figure.note}`).join("\n")}`);
if (extras.length) console.log(`\n${table(["also measured", "value", "target"], extras)}`);
console.log(
  `\n${measured.filter(met).length} of ${measured.length} figures meet their targets; ${Math.round(seconds / 6) / 10} min; wrote test/bench/results.json`,
);
process.exit(0);
