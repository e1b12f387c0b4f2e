/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Slipway on AWS. The components live in infra/*.ts; this file only names the app and pulls them in.
 * `npx sst deploy --stage <stage>` deploys. Stages named prod or production, and any stage deployed
 * with SLIPWAY_PROTECT=true, are protected from `sst remove` and keep their data (infra/stage.ts).
 */
export default $config({
  async app(input) {
    // SST allows no top-level imports here; the rule is a plain function the tests call as well.
    const { stagePolicy } = await import("./infra/stage");
    const { protect, removal } = stagePolicy(input.stage, process.env);
    return { name: "slipway", home: "aws", removal, protect };
  },
  async run() {
    // infra/handlers pulls in storage, queues, alarms and secrets.
    const { api, agents } = await import("./infra/handlers");
    return { api: api.url, agents: agents.url };
  },
});
