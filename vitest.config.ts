import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The deploy verification needs the SST platform installed (`npm run verify:sst`); the
    // reliability suite runs on its own (`npm run test:reliability`).
    exclude: ["test/sst/**", "test/reliability/**", "**/node_modules/**"],
    globalSetup: ["test/support/global-setup.ts"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files share one DynamoDB Local; each uses its own tables, so files run in parallel.
    fileParallelism: true,
  },
});
