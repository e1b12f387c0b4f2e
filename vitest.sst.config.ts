import { defineConfig } from "vitest/config";

/** `npm run verify:sst`: the offline deploy verification, which needs the SST platform in .sst/. */
export default defineConfig({
  test: { include: ["test/sst/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 180_000 },
});
