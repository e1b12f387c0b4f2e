// esbuild plugins for every Lambda bundle: infra/handlers.ts hands this file to SST (`nodejs.plugins`)
// and infra/tools/bundle.ts (the deploy checks and the cold-start bench) uses it too.
import { join } from "node:path";

/**
 * @hono/zod-openapi calls `extendZodWithOpenApi(z)` with zod's whole namespace as a value, which keeps
 * every export of zod in the bundle: all its locales and its JSON Schema converters, 340 KB of 440.
 * The extension only touches `z.ZodType.prototype`, so that import gets a namespace holding just
 * ZodType (./zod-for-openapi.mjs) and the rest of zod is tree-shaken as everywhere else.
 */
const leanZodForOpenApi = {
  name: "lean-zod-for-openapi",
  setup(build) {
    const shim = join(import.meta.dirname, "zod-for-openapi.mjs");
    build.onResolve({ filter: /^zod$/ }, (args) =>
      /[\\/]node_modules[\\/]@hono[\\/]zod-openapi[\\/]/.test(args.importer) ? { path: shim } : undefined,
    );
  },
};

export default [leanZodForOpenApi];
