import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fold, releaseDecider, streams } from "../../core/index.js";
import type { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import { WakeUpQueue } from "../../functions/adapters/wake-up-queue.js";
import { applyConfig } from "../../functions/services/config.js";
import { createConfigReleases } from "../../functions/services/config-releases.js";
import type { ApiDeps, BackendDeps } from "../../functions/services/deps.js";
import { createRelease } from "../../functions/services/releases.js";
import { docs, IMAGE } from "../support/fixtures.js";
import { isolatedApiStorage } from "../support/dynamo.js";
import { capturedLogs } from "../support/logs.js";

/**
 * Config releases against a real event log and read models, with no stream consumers running:
 * each call stands for one delivery of a ConfigApplied record to the reactor.
 */

let deps: BackendDeps & ApiDeps;
const logs = capturedLogs();
const drops: (() => Promise<void>)[] = [];
const meta = {
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "user" as const, id: "alice" },
  correlationId: "c",
  causationId: "c",
};
const manifest = (revision: string) => ({
  service: {
    ...docs.api.service,
    kubernetesConfig: { manifests: [`kind: Deployment\nrevision: ${revision}\nimage: {{.Params.image}}`] },
  },
});
const change = { kind: "service" as const, name: "api", actor: meta.actor };
const releaseOf = async (id: string) => fold(releaseDecider, await deps.store.read(streams.release(id)));

beforeAll(async () => {
  const { store, readModels, secretStore, drop } = await isolatedApiStorage();
  drops.push(drop);
  deps = {
    store,
    readModels,
    gateway: {} as AgentGateway,
    scheduler: new WakeUpQueue(new SQSClient({}), "unused"),
    secrets: { adminApiKey: "a", webhookSecret: "w", slackSigningSecret: "s" },
    secretStore,
    checks: {},
    logger: logs.logger,
  };
  await applyConfig(deps, [docs.staging, docs.production, docs.shop, manifest("one")], meta);
});
afterAll(async () => {
  for (const drop of drops) await drop();
});

describe("config releases", () => {
  it("makes one config release per change, however often and however concurrently the change is seen", async () => {
    const { releaseId: r1 } = await createRelease(
      deps,
      { application: "shop", service: "api", params: { image: IMAGE } },
      undefined,
      meta,
    );
    expect(await createConfigReleases(deps, change, meta)).toEqual([]);

    await applyConfig(deps, [manifest("two")], meta);
    const [first, second] = await Promise.all([
      createConfigReleases(deps, change, meta),
      createConfigReleases(deps, change, meta),
    ]);
    expect(first).toHaveLength(1);
    expect(second).toEqual(first);
    const config = first[0]!;
    expect(await releaseOf(config)).toMatchObject({
      cause: "config",
      basedOn: r1,
      author: "alice",
      params: { image: IMAGE },
      configVersions: { application: 1, service: 2 },
      gates: { staging: { started: true } },
    });
    expect(await deps.readModels.newestRelease("shop", "api")).toBe(config);
    // Seen again later: the newest release renders as the config does, so nothing more is made.
    expect(await createConfigReleases(deps, change, meta)).toEqual([]);
    expect(await deps.readModels.newestRelease("shop", "api")).toBe(config);
  });

  it("refuses, logs and moves on when the newest release's params no longer fit the changed service", async () => {
    const newest = await deps.readModels.newestRelease("shop", "api");
    const required = {
      service: {
        ...manifest("three").service,
        parameters: [...docs.api.service.parameters, { name: "region", required: true }],
      },
    };
    await applyConfig(deps, [required], meta);
    expect(await createConfigReleases(deps, change, meta)).toEqual([]);
    expect(await deps.readModels.newestRelease("shop", "api")).toBe(newest);
    expect(logs.entries().at(-1)).toMatchObject({
      level: "WARN",
      message: `config release of service "api" (based on ${newest}, config version 6) refused: release.invalid_params: the release parameters have 1 error(s) (params.region: params.region is required)`,
      application: "shop",
      service: "api",
    });
  });
});
