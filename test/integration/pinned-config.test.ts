import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeAgent } from "../support/fake-agent.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

/**
 * Releases pin their config, end to end: what a release deploys is the config it was created
 * with — after its approval, and in a rollback to it — and a config change goes out as a release
 * of its own, through the same gates.
 */

let p: Pipeline;

beforeAll(async () => {
  p = await openPipeline("pinned");
});

afterAll(async () => {
  await p?.close();
});

/** An application of its own per test, production gated as given, and its service with a manifest marked `revision`. */
const configs = (name: string, revision: string, production: { preconditions?: object[] } = {}, service: object = {}) =>
  p.applicationDocs(name, {
    production,
    service: {
      kubernetesConfig: {
        manifests: [
          `kind: Deployment\nmetadata:\n  annotations:\n    revision: ${revision}\nspec:\n  replicas: {{.Constants.replicas}}\n  image: "{{.Params.image}}"`,
        ],
      },
      ...service,
    },
  });

const manifestsOf = (agent: FakeAgent, releaseId: string, rollback = false) =>
  agent
    .received(releaseId)
    .filter((i) => i.rollback === rollback)
    .flatMap((i) => (i.payload?.kind === "kubernetes" ? i.payload.manifests : []));
/** The releases of an application other than those given, as staging's agent received them. */
const othersIn = (agent: FakeAgent, app: string, known: string[]) => [
  ...new Set(
    agent.instructions.filter((i) => i.application === app && !known.includes(i.releaseId)).map((i) => i.releaseId),
  ),
];

describe("releases pin their config, on the local stack", () => {
  it("deploys the approved manifest after a change, and sends the change out as a config release through the gates", async () => {
    await p.apply(configs("pin", "one", { preconditions: [{ manualApproval: {} }] }));
    const r1 = await p.release("pin", "1.0.0");
    await eventually(async () => (await p.releaseEvents(r1)).some((e) => e.type === "ApprovalRequested"));

    // The manifest changes while r1 waits at production's approval.
    await p.apply(configs("pin", "two", { preconditions: [{ manualApproval: {} }] }).slice(1));
    const approved = await p.api(`/v1/releases/${r1}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(approved.status).toBe(200);
    await until(() => manifestsOf(p.production, r1).length > 0);
    expect(manifestsOf(p.production, r1)).toEqual([expect.stringContaining("revision: one")]);

    // The change goes out as a config release: r1's params with the new manifest, staging first…
    await until(() => othersIn(p.staging, "pin", [r1]).length > 0);
    const [config] = othersIn(p.staging, "pin", [r1]);
    expect(manifestsOf(p.staging, config!)).toEqual([
      expect.stringMatching(/revision: two[\s\S]*image: "registry.example.com\/pin\/api:1.0.0"/),
    ]);
    // … then it waits at production's approval like any release, and nothing of it reached production.
    await eventually(async () => (await p.releaseEvents(config!)).some((e) => e.type === "ApprovalRequested"));
    expect(manifestsOf(p.production, config!)).toEqual([]);
    const view = (await p.api(`/v1/releases/${config}`)).body;
    expect(view).toMatchObject({
      cause: "config",
      basedOn: r1,
      params: { image: "registry.example.com/pin/api:1.0.0" },
      configVersions: { application: 1, service: 2 },
    });
    expect((await p.api(`/v1/releases/${r1}`)).body).toMatchObject({
      cause: "ci",
      configVersions: { application: 1, service: 1 },
    });
  });

  it("rolls back to a release with the manifest it was created with", async () => {
    await p.apply(configs("rbk", "one"));
    const r1 = await p.release("rbk", "1.0.0");
    await eventually(() => p.convergedOn("rbk", "staging", r1));
    await p.apply(configs("rbk", "two").slice(1));
    await until(() => othersIn(p.staging, "rbk", [r1]).length > 0);
    const [config] = othersIn(p.staging, "rbk", [r1]);
    await eventually(() => p.convergedOn("rbk", "staging", config!));
    expect(manifestsOf(p.staging, config!)).toEqual([expect.stringContaining("revision: two")]);

    const rollback = await p.api("/v1/applications/rbk/channels/staging/rollback", {
      method: "POST",
      body: { service: "rbk-api", releaseId: r1, reason: "revision two misbehaves" },
    });
    expect(rollback).toMatchObject({ status: 200, body: { changed: true } });
    await until(() => manifestsOf(p.staging, r1, true).length > 0);
    expect(manifestsOf(p.staging, r1, true)).toEqual([expect.stringContaining("revision: one")]);
  });

  it("renders a service's per-channel values in each channel, and shows each channel's inputs", async () => {
    await p.apply(
      configs(
        "pch",
        "one",
        {},
        {
          parameters: [
            { name: "image", type: "dockerImage", required: true },
            { name: "logLevel", default: "debug" },
          ],
          kubernetesConfig: {
            manifests: [
              'kind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n  image: "{{.Params.image}}"\n  args: ["--log={{.Params.logLevel}}"]',
            ],
          },
          perChannel: {
            production: { parameterValues: [{ name: "logLevel", value: "warn" }], constants: { replicas: 7 } },
          },
        },
      ),
    );
    const id = await p.release("pch", "1.0.0");
    await until(() => manifestsOf(p.production, id).length > 0);
    expect(manifestsOf(p.staging, id)).toEqual([expect.stringMatching(/replicas: 1[\s\S]*--log=debug/)]);
    expect(manifestsOf(p.production, id)).toEqual([expect.stringMatching(/replicas: 7[\s\S]*--log=warn/)]);
    const view = (await p.api(`/v1/releases/${id}`)).body as { channels: { name: string; inputs: object }[] };
    expect(view.channels.map((c) => [c.name, c.inputs])).toEqual([
      [
        "staging",
        { params: { image: "registry.example.com/pch/api:1.0.0", logLevel: "debug" }, constants: { replicas: 1 } },
      ],
      [
        "production",
        { params: { image: "registry.example.com/pch/api:1.0.0", logLevel: "warn" }, constants: { replicas: 7 } },
      ],
    ]);

    const refused = await p.api("/v1/configs", {
      method: "PUT",
      body: configs("pch", "one", {}, { perChannel: { qa: { constants: { replicas: 2 } } } }).slice(1),
    });
    expect(refused).toMatchObject({
      status: 400,
      body: {
        code: "config.invalid",
        errors: [
          { path: "service.perChannel.qa", message: 'release channel "qa" does not exist in application "pch"' },
        ],
      },
    });
  });
});
