import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import setupDynamo from "../support/global-setup.js";

/** DynamoDB Local as for every test run, plus the file the parts write their figures to, printed at the end. */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "slipway-reliability-"));
  const path = join(dir, "figures.jsonl");
  process.env.SLIPWAY_RELIABILITY_FIGURES = path;
  const stopDynamo = await setupDynamo(project);
  return async () => {
    await stopDynamo();
    const lines = existsSync(path)
      ? readFileSync(path, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { part: string; figures: Record<string, number> })
      : [];
    const totals: Record<string, number> = {};
    for (const { figures } of lines) for (const [k, v] of Object.entries(figures)) totals[k] = (totals[k] ?? 0) + v;
    const out = [
      "",
      `reliability (${process.env.RELIABILITY === "long" ? "long" : "short"} run):`,
      ...lines.map(
        ({ part, figures }) =>
          `  ${part.padEnd(10)} ${Object.entries(figures)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
      ),
      `  ${"total".padEnd(10)} ${["kills", "releases", "cases", "refusals", "lost", "duplicated"]
        .map((k) => `${k} ${totals[k] ?? 0}`)
        .join(", ")}`,
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    rmSync(dir, { recursive: true, force: true });
  };
}
