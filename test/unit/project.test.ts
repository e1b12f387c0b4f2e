import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { schemaFiles } from "../../infra/tools/schemas.js";

const root = join(import.meta.dirname, "../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

describe("project rules", () => {
  it("keeps core/ pure: no AWS SDK, no sst, no file, network or process I/O", () => {
    const forbidden = /^(@aws-sdk\/|sst$|sst\/|(node:)?(fs|net|http|https|child_process|dgram|tls|worker_threads)(\/|$))/;
    const offenders = sourceFiles(join(root, "core")).flatMap((file) => imports(file).filter((m) => forbidden.test(m)).map((m) => `${file}: ${m}`));
    expect(offenders).toEqual([]);
  });

  it("keeps core/ to events/, zod and its own modules, and events/ to zod", () => {
    const allowed = (file: string, m: string) => m === "zod" || m.startsWith(".") && (!file.includes("/events/") || !m.includes("core/"));
    for (const dir of ["core", "events"]) {
      const offenders = sourceFiles(join(root, dir)).flatMap((file) => imports(file).filter((m) => !allowed(file, m)).map((m) => `${file}: ${m}`));
      expect(offenders).toEqual([]);
    }
  });

  it("ships JSON Schemas that match the zod schemas (run `npm run schemas` after changing them)", () => {
    for (const [path, schema] of Object.entries(schemaFiles())) {
      expect(JSON.parse(readFileSync(join(root, path), "utf8")), path).toEqual(schema);
    }
  });
});
