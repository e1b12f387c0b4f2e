import { defineConfig } from "vitest/config";

/**
 * The reliability suite (`npm run test:reliability`; `RELIABILITY=long` for the long run):
 * crashes, fuzzing and forged credentials against the local stack. Its parts run one after
 * another, each with the machine to itself, and it prints its figures last.
 */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    globalSetup: ["test/reliability/global-setup.ts"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    testTimeout: 60 * 60_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
