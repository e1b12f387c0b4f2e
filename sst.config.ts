/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Slipway on AWS. The components live in infra/*.ts; this file only names the app and pulls them in.
 * `npx sst deploy --stage <stage>` deploys; production stages keep their data on removal.
 */
export default $config({
  app(input) {
    return {
      name: "slipway",
      home: "aws",
      removal: input?.stage === "production" ? "retain" : "remove",
      protect: input?.stage === "production",
    };
  },
  async run() {
    // infra/handlers pulls in storage, queues and secrets.
    const { api, agents } = await import("./infra/handlers");
    return { api: api.url, agents: agents.url };
  },
});
