import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { functions, handlerRefs } from "../../infra/functions.js";
import { bundleHandler, REPO_ROOT } from "../../infra/tools/bundle.js";
import { figure } from "./figures.js";
import { summarize } from "./stats.js";

/**
 * Per Lambda: the minified bundle's size (as infra/handlers.ts deploys it), and how much longer a
 * fresh Node process takes to start when it also imports the bundle and resolves the handler than
 * an empty one does (medians over `runs`, alternating).
 */
export async function coldStarts(runs: number, log: (line: string) => void) {
  const named = handlerRefs(functions).filter((h): h is string => typeof h === "string");
  // One bundle per file: the agent socket's three handlers share theirs.
  const handlers = [...new Map(named.map((h) => [h.slice(0, h.lastIndexOf(".")), h])).values()];
  // Inside the repository, so the AWS SDK the bundles leave to Lambda's runtime resolves from node_modules.
  const outdir = resolve(REPO_ROOT, "node_modules/.cache/slipway-bench");
  const wall = (args: string[]) => {
    const t = performance.now();
    execFileSync(process.execPath, args, { stdio: "ignore", env: { PATH: process.env.PATH ?? "" } });
    return performance.now() - t;
  };
  const empty: number[] = [];
  const out = [];
  for (const handler of handlers) {
    const bundle = await bundleHandler(handler, resolve(outdir, handler.replace(/[^a-z]/gi, "_")));
    const script = `const m = await import(${JSON.stringify(bundle.outfile)}); if (typeof m[${JSON.stringify(bundle.exportName)}] !== "function") process.exit(2);`;
    const times: number[] = [];
    wall(["--input-type=module", "-e", script]); // a first run warms the file cache, as a deployed image is warm on disk
    for (let i = 0; i < runs; i++) {
      empty.push(wall(["-e", ""]));
      times.push(wall(["--input-type=module", "-e", script]));
    }
    out.push({ handler, bytes: bundle.bytes, medianMs: summarize(times).p50 });
    log(`cold start: ${handler} ${Math.round(bundle.bytes / 1024)} KB`);
  }
  const emptyNodeMs = summarize(empty).p50;
  const measured = out.map((f) => ({
    handler: f.handler,
    bytes: f.bytes,
    kb: Math.round(f.bytes / 1024),
    processMs: f.medianMs,
    initOverEmptyMs: Math.round((f.medianMs - emptyNodeMs) * 10) / 10,
  }));
  const largest = measured.reduce((a, b) => (b.kb > a.kb ? b : a));
  const slowest = measured.reduce((a, b) => (b.initOverEmptyMs > a.initOverEmptyMs ? b : a));
  return {
    figures: [
      figure("bundle_kb_max", largest.kb, {
        measured: largest.handler,
        runs: "exact",
      }),
      figure("init_ms_over_node_max", slowest.initOverEmptyMs, {
        measured: slowest.handler,
        floor: `${emptyNodeMs} ms empty node`,
        runs: `median of ${runs} runs each`,
      }),
    ],
    extras: measured.map((f) => [
      `cold start ${f.handler}`,
      `${f.kb} KB, +${f.initOverEmptyMs} ms`,
      "≤ 300 KB, ≤ +150 ms",
    ]),
    details: { runsEach: runs, emptyNodeMs, functions: measured },
  };
}
