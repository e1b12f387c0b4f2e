import { statSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { REPO_ROOT } from "./bundle.js";

/**
 * `npm run build:agent [-- <outfile>]`: the reference agent as one file that runs with plain
 * `node` anywhere, with nothing installed beside it (its dependencies, ws and yaml, are inside) —
 * what the agent's image holds, and what the agent's integration tests run. Default output:
 * dist/agent/agent.mjs.
 */
export const DEFAULT_AGENT_BUNDLE = resolve(REPO_ROOT, "dist/agent/agent.mjs");

export async function buildAgent(
  outfile = DEFAULT_AGENT_BUNDLE,
): Promise<{ outfile: string; bytes: number; gzipped: number }> {
  await build({
    entryPoints: [resolve(REPO_ROOT, "agent/main.ts")],
    outfile,
    bundle: true,
    minify: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // ws's optional native speed-ups: it runs without them.
    external: ["bufferutil", "utf-8-validate"],
    // ESM bundles of CommonJS dependencies (ws) need a require.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    legalComments: "none",
    logLevel: "warning",
    plugins: [
      {
        // node-fetch (under @kubernetes/client-node) falls back to whatwg-url only where node has no
        // URL of its own; node always has one. Its Unicode tables would be 280 KB of the bundle.
        name: "native-url",
        setup(b) {
          b.onResolve({ filter: /^whatwg-url$/ }, () => ({ path: "whatwg-url", namespace: "native-url" }));
          b.onLoad({ filter: /.*/, namespace: "native-url" }, () => ({
            contents: "module.exports = { URL: globalThis.URL, URLSearchParams: globalThis.URLSearchParams };",
            loader: "js",
          }));
        },
      },
    ],
  });
  return { outfile, bytes: statSync(outfile).size, gzipped: gzipSync(readFileSync(outfile)).length };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { outfile, bytes, gzipped } = await buildAgent(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`wrote ${outfile}: ${(bytes / 1024).toFixed(0)} KB (${(gzipped / 1024).toFixed(0)} KB gzipped)`);
}
