import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { signBody } from "../../functions/services/credentials.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "../support/fake-agent.js";
import { docs } from "../support/fixtures.js";
import { until } from "../support/wait.js";

/**
 * Releases pin their config, end to end: what a release deploys is the config it was created
 * with — after its approval, and in a rollback to it — and a config change goes out as a release
 * of its own, through the same gates.
 */

let stack: LocalStack;
let secrets: Secrets;
let store: EventStore;
let staging: FakeAgent;
let production: FakeAgent;

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${secrets.adminApiKey}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An application of its own per test, production gated as given, and its service with a manifest marked `revision`. */
function configs(name: string, revision: string, production: { preconditions?: object[] } = {}, service: object = {}) {
  return [
    {
      application: {
        name,
        releaseChannels: [
          { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
          {
            name: "production",
            runtimes: [{ runtime: "k8s-production" }],
            preconditions: production.preconditions ?? [],
            constants: { replicas: 3 },
          },
        ],
      },
    },
    {
      service: {
        ...docs.api.service,
        name: `${name}-api`,
        application: name,
        kubernetesConfig: {
          manifests: [
            `kind: Deployment\nmetadata:\n  annotations:\n    revision: ${revision}\nspec:\n  replicas: {{.Constants.replicas}}\n  image: "{{.Params.image}}"`,
          ],
        },
        ...service,
      },
    },
  ];
}

async function apply(documents: object[]): Promise<void> {
  const res = await api("/v1/configs", { method: "PUT", body: documents });
  expect(res.status).toBe(200);
}

async function release(app: string, tag: string): Promise<string> {
  const body = JSON.stringify({
    application: app,
    service: `${app}-api`,
    params: { image: `registry.example.com/${app}/api:${tag}` },
  });
  const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-slipway-signature-256": signBody(secrets.webhookSecret, body) },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { releaseId: string }).releaseId;
}

const manifestsOf = (agent: FakeAgent, releaseId: string, rollback = false) =>
  agent.instructions
    .filter((i) => i.releaseId === releaseId && i.rollback === rollback)
    .flatMap((i) => (i.payload?.kind === "kubernetes" ? i.payload.manifests : []));
const releaseEvents = (releaseId: string): Promise<StoredEvent[]> => store.read(streams.release(releaseId));
const channelEvents = (app: string, channel: string): Promise<StoredEvent[]> =>
  store.read(streams.channel(app, channel));
const converged = async (app: string, channel: string, releaseId: string) =>
  (await channelEvents(app, channel)).some((e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId);
/** The releases of an application other than those given, as staging's agent received them. */
const othersIn = (agent: FakeAgent, app: string, known: string[]) => [
  ...new Set(
    agent.instructions.filter((i) => i.application === app && !known.includes(i.releaseId)).map((i) => i.releaseId),
  ),
];

async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  stack = await startLocalStack({ stage: "pinned" });
  secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );
  await apply([docs.staging, docs.production]);
  const token = async (runtime: string) =>
    (await api(`/v1/runtimes/${runtime}/link`, { method: "POST" })).body.token as string;
  staging = new FakeAgent(stack.wsUrl, "k8s-staging", await token("k8s-staging"));
  production = new FakeAgent(stack.wsUrl, "k8s-production", await token("k8s-production"));
  await staging.connect();
  await production.connect();
});

afterAll(async () => {
  await Promise.all([staging?.close(), production?.close()]);
  await stack?.stop();
});

describe("releases pin their config, on the local stack", () => {
  it("deploys the approved manifest after a change, and sends the change out as a config release through the gates", async () => {
    await apply(configs("pin", "one", { preconditions: [{ manualApproval: {} }] }));
    const r1 = await release("pin", "1.0.0");
    await eventually(async () => (await releaseEvents(r1)).some((e) => e.type === "ApprovalRequested"));

    // The manifest changes while r1 waits at production's approval.
    await apply(configs("pin", "two", { preconditions: [{ manualApproval: {} }] }).slice(1));
    const approved = await api(`/v1/releases/${r1}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(approved.status).toBe(200);
    await until(() => manifestsOf(production, r1).length > 0);
    expect(manifestsOf(production, r1)).toEqual([expect.stringContaining("revision: one")]);

    // The change goes out as a config release: r1's params with the new manifest, staging first…
    await until(() => othersIn(staging, "pin", [r1]).length > 0);
    const [config] = othersIn(staging, "pin", [r1]);
    expect(manifestsOf(staging, config!)).toEqual([
      expect.stringMatching(/revision: two[\s\S]*image: "registry.example.com\/pin\/api:1.0.0"/),
    ]);
    // … then it waits at production's approval like any release, and nothing of it reached production.
    await eventually(async () => (await releaseEvents(config!)).some((e) => e.type === "ApprovalRequested"));
    expect(manifestsOf(production, config!)).toEqual([]);
    const view = (await api(`/v1/releases/${config}`)).body;
    expect(view).toMatchObject({
      cause: "config",
      basedOn: r1,
      params: { image: "registry.example.com/pin/api:1.0.0" },
      configVersions: { application: 1, service: 2 },
    });
    expect((await api(`/v1/releases/${r1}`)).body).toMatchObject({
      cause: "ci",
      configVersions: { application: 1, service: 1 },
    });
  });

  it("rolls back to a release with the manifest it was created with", async () => {
    await apply(configs("rbk", "one"));
    const r1 = await release("rbk", "1.0.0");
    await eventually(() => converged("rbk", "staging", r1));
    await apply(configs("rbk", "two").slice(1));
    await until(() => othersIn(staging, "rbk", [r1]).length > 0);
    const [config] = othersIn(staging, "rbk", [r1]);
    await eventually(() => converged("rbk", "staging", config!));
    expect(manifestsOf(staging, config!)).toEqual([expect.stringContaining("revision: two")]);

    const rollback = await api("/v1/applications/rbk/channels/staging/rollback", {
      method: "POST",
      body: { service: "rbk-api", releaseId: r1, reason: "revision two misbehaves" },
    });
    expect(rollback).toMatchObject({ status: 200, body: { changed: true } });
    await until(() => manifestsOf(staging, r1, true).length > 0);
    expect(manifestsOf(staging, r1, true)).toEqual([expect.stringContaining("revision: one")]);
  });

  it("renders a service's per-channel values in each channel, and shows each channel's inputs", async () => {
    await apply(
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
    const id = await release("pch", "1.0.0");
    await until(() => manifestsOf(production, id).length > 0);
    expect(manifestsOf(staging, id)).toEqual([expect.stringMatching(/replicas: 1[\s\S]*--log=debug/)]);
    expect(manifestsOf(production, id)).toEqual([expect.stringMatching(/replicas: 7[\s\S]*--log=warn/)]);
    const view = (await api(`/v1/releases/${id}`)).body as { channels: { name: string; inputs: object }[] };
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

    const refused = await api("/v1/configs", {
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
