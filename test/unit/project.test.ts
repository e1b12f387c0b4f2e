import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
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
    const forbidden =
      /^(@aws-sdk\/|sst$|sst\/|(node:)?(fs|net|http|https|child_process|dgram|tls|worker_threads)(\/|$))/;
    const offenders = sourceFiles(join(root, "core")).flatMap((file) =>
      imports(file)
        .filter((m) => forbidden.test(m))
        .map((m) => `${file}: ${m}`),
    );
    expect(offenders).toEqual([]);
  });

  it("keeps core/ to events/, zod and its own modules, and events/ to zod", () => {
    const allowed = (file: string, m: string) =>
      m === "zod" || (m.startsWith(".") && (!file.includes("/events/") || !m.includes("core/")));
    for (const dir of ["core", "events"]) {
      const offenders = sourceFiles(join(root, dir)).flatMap((file) =>
        imports(file)
          .filter((m) => !allowed(file, m))
          .map((m) => `${file}: ${m}`),
      );
      expect(offenders).toEqual([]);
    }
  });

  it("keeps functions/ layered: entry points and routes call services, services use adapters, adapters stand alone", () => {
    const functions = join(root, "functions");
    /** The room a file of functions/ lives in. */
    const room = (file: string): string => {
      const rel = relative(functions, file);
      if (rel === "wiring.ts") return "wiring";
      return rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : "entry";
    };
    // What each room may import from functions/. The entry points receive Lambda events, so they may
    // read the event shapes and stream-record helpers from adapters; nothing else of adapters.
    const may: Record<string, (target: string, rel: string) => boolean> = {
      adapters: (t) => t === "adapters",
      services: (t) => t === "services" || t === "adapters",
      routes: (t) => t === "routes" || t === "services",
      entry: (t, rel) =>
        t === "routes" ||
        t === "services" ||
        t === "wiring" ||
        rel === "adapters/lambda-events.ts" ||
        rel === "adapters/stream-records.ts",
      wiring: (t) => t === "adapters" || t === "services",
    };
    const offenders = sourceFiles(functions).flatMap((file) =>
      imports(file)
        .filter((m) => m.startsWith("."))
        .map((m) => resolve(dirname(file), m).replace(/\.js$/, ".ts"))
        .filter((target) => target.startsWith(functions + "/"))
        .filter((target) => !may[room(file)]!(room(target), relative(functions, target)))
        .map((target) => `${relative(root, file)} (${room(file)}) imports ${relative(root, target)} (${room(target)})`),
    );
    expect(offenders).toEqual([]);
    // Resource names are read in one place: the composition root.
    const sst = sourceFiles(functions)
      .filter((file) => imports(file).includes("sst"))
      .map((file) => relative(root, file));
    expect(sst).toEqual(["functions/wiring.ts"]);
  });

  it("keeps cli/ a client of the HTTP API: core/ and events/ for types and pure helpers, never functions/ or infra/", () => {
    const libraries = new Set(["commander", "yaml", "zod"]);
    const offenders = sourceFiles(join(root, "cli")).flatMap((file) =>
      imports(file)
        .filter((m) => {
          if (m.startsWith("node:") || libraries.has(m)) return false;
          if (!m.startsWith(".")) return true;
          const top = relative(root, resolve(dirname(file), m)).split("/")[0];
          return !["cli", "core", "events", "package.json"].includes(top!);
        })
        .map((m) => `${relative(root, file)}: ${m}`),
    );
    expect(offenders).toEqual([]);
  });

  it("keeps agent/ a program of its own: the protocol from core/, its libraries, never functions/ or infra/", () => {
    const libraries = new Set(["ws", "yaml", "zod", "@kubernetes/client-node"]);
    const offenders = sourceFiles(join(root, "agent")).flatMap((file) =>
      imports(file)
        .filter((m) => {
          if (m.startsWith("node:") || libraries.has(m)) return false;
          if (!m.startsWith(".")) return true;
          const top = relative(root, resolve(dirname(file), m)).split("/")[0];
          return !["agent", "core", "events"].includes(top!);
        })
        .map((m) => `${relative(root, file)}: ${m}`),
    );
    expect(offenders).toEqual([]);
  });

  it("ships JSON Schemas that match the zod schemas (run `npm run schemas` after changing them)", () => {
    for (const [path, schema] of Object.entries(schemaFiles())) {
      expect(JSON.parse(readFileSync(join(root, path), "utf8")), path).toEqual(schema);
    }
  });
});
