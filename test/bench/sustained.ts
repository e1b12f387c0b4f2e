import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { LocalStack } from "../../infra/local/stack.js";
import { startAgents } from "./agents.js";
import { figure, log, median, round } from "./figures.js";
import { Flow } from "./flow.js";

/**
 * Sustained load: `perSecond` CI webhooks a second for `seconds`, round robin over `applications`
 * applications (staging → production, no gates, each channel on a runtime of its own with an agent
 * that acks and reports success at once, in a process of their own), sent on schedule whatever the answers (open loop). Then
 * how long after the last webhook every application's newest release is converged in production,
 * as the application view shows it, up to `drainCapSeconds`; and the RSS of the stack's process
 * (started fresh for each run) before, during and after, with `afterSeconds` of idle at the end.
 */
export type SustainedCounts = {
  runs: number;
  perSecond: number;
  seconds: number;
  applications: number;
  drainCapSeconds: number;
  afterSeconds: number;
};

/** Beyond this many unanswered webhooks the load waits (and the achieved rate says so) rather than swamp the machine. */
const MAX_IN_FLIGHT = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function sustained(counts: SustainedCounts) {
  const runs = [];
  for (let r = 0; r < counts.runs; r++) {
    const result = await oneRun(counts, r);
    runs.push(result);
    log(
      `sustained run ${r + 1}/${counts.runs}: ${result.drainS === null ? `not drained after ${counts.drainCapSeconds} s (${result.drainedApplications} of ${counts.applications})` : `drained ${result.drainS} s after the load`}; RSS ${result.rss.beforeMib} → ${result.rss.peakMib} → ${result.rss.endMib} MiB`,
    );
    if (result.drainS === null) break; // a run that never drains is the answer; another would not change it
  }
  const stuck = runs.find((x) => x.drainS === null);
  const short = runs.find((x) => x.load.achievedPerSecond < 0.95 * counts.perSecond);
  const notFlat = runs.find((x) => !x.rss.flatAfter);
  const scale = `${counts.perSecond}/s for ${counts.seconds} s over ${counts.applications} applications`;
  const of = `${stuck ? "stopped at" : "median of"} ${runs.length} run${runs.length === 1 ? "" : "s"}`;
  const notes = (...parts: (string | false | undefined)[]) => parts.filter(Boolean).join("; ") || undefined;
  return {
    figures: [
      figure(
        "sustained_drain_s",
        stuck ? null : median(runs.map((x) => x.drainS!)),
        {
          measured: `${scale}; ${runs.map((x) => (x.drainS === null ? "not drained" : `${x.drainS} s`)).join(", ")}; ${runs.map((x) => `${x.load.accepted} of ${x.load.sent} accepted at ${x.load.achievedPerSecond}/s`).join(", ")}`,
          runs: of,
        },
        notes(
          stuck &&
            `run ${runs.indexOf(stuck) + 1}: not drained after ${counts.drainCapSeconds} s: ${stuck.drainedApplications} of ${counts.applications} applications had their newest release converged in production`,
          stuck?.load.allAnsweredAfterS === null && "some webhooks were still unanswered at the cap",
          short && `the load reached only ${short.load.achievedPerSecond}/s (run ${runs.indexOf(short) + 1})`,
        ),
      ),
      {
        ...figure(
          "sustained_rss_mib",
          median(runs.map((x) => x.rss.endMib)),
          {
            measured: `${runs.map((x) => `${x.rss.beforeMib} → peak ${x.rss.peakMib} → end ${x.rss.endMib}`).join(", ")} MiB`,
            runs: of,
          },
          notes(
            stuck && "at the end of a run that did not drain",
            notFlat &&
              `not flat after: ${notFlat.rss.afterGrowthMib > 0 ? "+" : ""}${notFlat.rss.afterGrowthMib} MiB over the ${counts.afterSeconds} s after the drain or the cap (run ${runs.indexOf(notFlat) + 1})`,
          ),
        ),
        // "Flat after" needs an after: a run that never drained has none.
        holds: !notFlat && !stuck,
      },
    ],
    details: { ...counts, maxInFlight: MAX_IN_FLIGHT, runs },
  };
}

async function oneRun(counts: SustainedCounts, run: number) {
  const stackProcess = await startStackProcess();
  const flow = new Flow();
  flow.use(stackProcess.stack);
  const apps = Array.from({ length: counts.applications }, (_, i) => `load-${String(i).padStart(2, "0")}`);
  const channels = ["staging", "production"];
  const samples: { t: number; phase: string; rssMib: number; dynamoDbLocalMib: number }[] = [];
  let phase = "setup";
  let loadStart = performance.now();
  const sample = () =>
    samples.push({
      t: round((performance.now() - loadStart) / 1000, 1),
      phase,
      rssMib: round(rssMib(stackProcess.pid), 1),
      dynamoDbLocalMib: round(childrenRssMib(stackProcess.pid), 1),
    });
  const sampler = setInterval(sample, 2000);
  let agents: { stop: () => void } | undefined;
  try {
    const tokens = await setUp(flow, apps, channels);
    agents = await startAgents(stackProcess.stack.wsUrl, tokens, () => undefined);
    await sleep(3000); // the agents' registrations settle
    loadStart = performance.now();
    phase = "before";
    sample();

    // The load: webhook k is due at k / perSecond seconds; one that is late goes at once.
    phase = "load";
    const total = counts.perSecond * counts.seconds;
    const newest = new Map<string, string>();
    /** Which webhook made each release, to say how far each channel got. */
    const sequence = new Map<string, number>();
    const errors = new Map<string, number>();
    const load = { sent: 0, accepted: 0, failed: 0, maxInFlight: 0 };
    let inFlight = 0;
    const answers: Promise<void>[] = [];
    for (let k = 0; k < total; k++) {
      const wait = loadStart + (k * 1000) / counts.perSecond - performance.now();
      if (wait > 1) await sleep(wait);
      while (inFlight >= MAX_IN_FLIGHT) await sleep(5);
      const app = apps[k % apps.length]!;
      inFlight += 1;
      load.sent += 1;
      load.maxInFlight = Math.max(load.maxInFlight, inFlight);
      answers.push(
        flow
          .webhook(app, `${app}-svc`, `3.${run}.${k}`)
          .then(
            ({ releaseId }) => {
              load.accepted += 1;
              sequence.set(releaseId, k);
              // Release ids sort by creation time.
              if (releaseId > (newest.get(app) ?? "")) newest.set(app, releaseId);
            },
            (err: unknown) => {
              load.failed += 1;
              const cause = (err as { cause?: { code?: string; message?: string } }).cause;
              const message = err instanceof Error ? err.message : String(err);
              const key = `${message}${cause ? ` (${cause.code ?? cause.message})` : ""}`.slice(0, 160);
              errors.set(key, (errors.get(key) ?? 0) + 1);
            },
          )
          .finally(() => (inFlight -= 1)),
      );
    }
    const loadEnd = performance.now();
    const achievedPerSecond = round(total / ((loadEnd - loadStart) / 1000 + 1 / counts.perSecond));
    sample();

    // The drain: every answer in (the newest release of each application is known only then), then
    // each application's production, until it shows that release converged.
    phase = "drain";
    const deadline = loadEnd + counts.drainCapSeconds * 1000;
    const elapsed = () => round((performance.now() - loadEnd) / 1000, 1);
    await Promise.race([Promise.all(answers), sleep(Math.max(0, deadline - performance.now()))]);
    const answeredS = inFlight === 0 ? elapsed() : null;
    const drained = new Map<string, number>();
    while (inFlight === 0 && drained.size < apps.length && performance.now() < deadline) {
      for (const app of apps) {
        if (drained.has(app) || !newest.has(app)) continue;
        if ([...(await converged(flow, app)).values()].at(-1) === newest.get(app)) drained.set(app, elapsed());
      }
      if (drained.size < apps.length) await sleep(250);
    }
    const drainS = drained.size === apps.length ? Math.max(...drained.values()) : null;
    sample();
    // Where each application stood then: the webhook (0…) whose release each channel shows converged.
    const progress: Record<string, Record<string, number | null>> = {};
    for (const app of apps) {
      const channels = [...(await converged(flow, app))].map(([c, id]) => [c, sequence.get(id ?? "") ?? null]);
      progress[app] = { newest: sequence.get(newest.get(app) ?? "") ?? null, ...Object.fromEntries(channels) };
    }

    phase = "after";
    const afterFrom = samples.length;
    await sleep(counts.afterSeconds * 1000);
    sample();
    const after = samples.slice(afterFrom);
    const rss = samples.map((s) => s.rssMib);
    const growth = round(after.at(-1)!.rssMib - after[0]!.rssMib, 1);
    return {
      drainS,
      drainedApplications: drained.size,
      drainedPerApplication: Object.fromEntries(drained),
      progress,
      load: {
        ...load,
        achievedPerSecond,
        allAnsweredAfterS: answeredS,
        errors: Object.fromEntries(errors),
      },
      rss: {
        beforeMib: samples.find((s) => s.phase === "before")?.rssMib ?? NaN,
        peakMib: Math.max(...rss),
        atLoadEndMib: samples.filter((s) => s.phase === "load").at(-1)?.rssMib ?? NaN,
        endMib: after.at(-1)!.rssMib,
        afterGrowthMib: growth,
        flatAfter: growth <= Math.max(10, 0.05 * after[0]!.rssMib),
        samples,
      },
      stackLog: stackProcess.log(),
    };
  } finally {
    clearInterval(sampler);
    agents?.stop();
    await flow.close();
    await stackProcess.stop();
  }
}

/** Each application with its channels, each channel on a runtime of its own; the runtimes linked. */
async function setUp(flow: Flow, apps: string[], channels: string[]) {
  await flow.applyConfigs(
    apps.flatMap((app) => [
      ...channels.map((c) => ({ runtime: { name: `${app}-${c}`, kubernetes: {} } })),
      {
        application: {
          name: app,
          releaseChannels: channels.map((name) => ({ name, runtimes: [{ runtime: `${app}-${name}` }] })),
        },
      },
      {
        service: {
          name: `${app}-svc`,
          application: app,
          parameters: [{ name: "image", type: "dockerImage", required: true }],
          kubernetesConfig: { manifests: [MANIFEST] },
        },
      },
    ]),
  );
  const tokens = [];
  for (const runtime of apps.flatMap((app) => channels.map((c) => `${app}-${c}`)))
    tokens.push({ runtime, token: (await flow.api(`/v1/runtimes/${runtime}/link`, "POST")).token as string });
  return tokens;
}

const MANIFEST =
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{.Params.image}}"\n';

/** Per channel of the application, in order, the release its service is converged on, as the application view shows it. */
async function converged(flow: Flow, app: string): Promise<Map<string, string | undefined>> {
  const view = (await flow.api(`/v1/applications/${app}`).catch(() => undefined)) as
    { channels: { name: string; services: Record<string, { convergedReleaseId?: string }> }[] } | undefined;
  return new Map((view?.channels ?? []).map((c) => [c.name, c.services[`${app}-svc`]?.convergedReleaseId]));
}

/** The stack in a child process (stack-child.ts), with none of this process's stack variables. */
async function startStackProcess() {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(SST_RESOURCE_|AWS_ENDPOINT_URL|SLIPWAY_)/.test(k)),
  );
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "stack-child.ts")], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });
  // Its log lines are read all along (a full pipe would stall it); the first few are kept.
  const lines: string[] = [];
  let count = 0;
  const keep = (line: string) => {
    count += 1;
    if (lines.length < 10) lines.push(line.slice(0, 500));
  };
  createInterface({ input: child.stderr }).on("line", keep);
  const endpoints = await new Promise<Omit<LocalStack, "stop">>((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`the stack's process exited (${code}) before it was up:\n${lines.join("\n")}`)),
    );
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.startsWith("stack ")) resolve(JSON.parse(line.slice(6)) as Omit<LocalStack, "stop">);
      else keep(line);
    });
  });
  const pid = child.pid!;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    const jvms = childPids(pid);
    child.stdin.end();
    if (!(await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]))) {
      // It did not stop by itself: end it and the DynamoDB Local it started, by their ids.
      for (const p of [pid, ...jvms]) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  };
  return {
    stack: { ...endpoints, stop } satisfies LocalStack,
    pid,
    stop,
    log: () => ({ lines: count, first: [...lines] }),
  };
}

function rssMib(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim())
      .map(Number);
  } catch {
    return [];
  }
}

/** The processes the stack started (DynamoDB Local's JVM), for the record: not the figure. */
function childrenRssMib(pid: number): number {
  return childPids(pid).reduce((sum, p) => sum + (rssMib(p) || 0), 0);
}
