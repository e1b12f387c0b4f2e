import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import plugins from "../bundling/plugins.mjs";
import { settings } from "../functions.js";

/**
 * Bundles one handler as the deployed Lambda gets it (infra/handlers.ts: ESM, minified, tree-shaken,
 * Node 20, AWS SDK v3 left to the runtime), and reports what the deploy checks and the cold-start
 * benchmark need: the bundle's size, its exports, and what went into it (from esbuild's metafile).
 */
export type Bundle = {
  handler: string;
  file: string;
  exportName: string;
  outfile: string;
  bytes: number;
  exports: string[];
  /** Every file bundled in, from the repository's root (`functions/http.ts`, `node_modules/hono/…`). */
  inputs: string[];
  /** The files of `inputs` that tree-shaking left something of in the bundle. */
  shipped: string[];
  /** What the bundle imports at run time instead (`@aws-sdk/client-sqs`, `node:fs`), each once. */
  externals: string[];
};

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export async function bundleHandler(handler: string, outdir: string): Promise<Bundle> {
  const dot = handler.lastIndexOf(".");
  const file = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  const outfile = resolve(outdir, `${file.replaceAll("/", "_")}.mjs`);
  const result = await build({
    entryPoints: [resolve(REPO_ROOT, `${file}.ts`)],
    outfile,
    bundle: true,
    minify: true,
    treeShaking: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: [...settings.bundleExternal],
    // ESM bundles of CommonJS dependencies need a require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins,
    metafile: true,
    // The metafile's paths are relative to this.
    absWorkingDir: REPO_ROOT,
    logLevel: "silent",
  });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint)!;
  return {
    handler,
    file,
    exportName,
    outfile,
    bytes: statSync(outfile).size,
    exports: output.exports,
    inputs: Object.keys(result.metafile.inputs).sort(),
    shipped: Object.entries(output.inputs)
      .filter(([, i]) => i.bytesInOutput > 0)
      .map(([file]) => file)
      .sort(),
    externals: [...new Set(output.imports.filter((i) => i.external).map((i) => i.path))].sort(),
  };
}

/**
 * Which of the given linkable resources a bundle reads. SST's `Resource` is a proxy read as
 * `Resource.<Name>.<property>`; minification renames `Resource` but keeps the property names, and
 * tree-shaking has dropped the code the handler never reaches — so this is what it really reads.
 */
export function resourcesReadBy(bundle: Bundle, names: readonly string[]): string[] {
  const code = readFileSync(bundle.outfile, "utf8");
  return names.filter((n) => new RegExp(`\\.${n}\\.[A-Za-z]`).test(code)).sort();
}
