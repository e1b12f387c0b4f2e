import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { streams, type InstructionMessage } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { signBody } from "../../functions/services/credentials.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import { FakeAgent } from "./fake-agent.js";
import { docs } from "./fixtures.js";

/**
 * A local stack with the example runtimes linked and a fake agent on each, and the calls a test
 * of a staging → production pipeline makes: the API as admin, applications of its own, signed CI
 * webhooks, and the log. Each test makes its own application so tests do not see each other.
 */
export type Pipeline = Awaited<ReturnType<typeof openPipeline>>;

export async function openPipeline(
  stage: string,
  options: { stagingOutcome?: (i: InstructionMessage) => "succeeded" | "failed" | "none" } = {},
) {
  const stack: LocalStack = await startLocalStack({ stage });
  const secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  const store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );

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

  await api("/v1/configs", { method: "PUT", body: [docs.staging, docs.production] });
  const token = async (runtime: string) =>
    (await api(`/v1/runtimes/${runtime}/link`, { method: "POST" })).body.token as string;
  const staging = new FakeAgent(
    stack.wsUrl,
    "k8s-staging",
    await token("k8s-staging"),
    options.stagingOutcome ? { outcome: options.stagingOutcome } : {},
  );
  const production = new FakeAgent(stack.wsUrl, "k8s-production", await token("k8s-production"));
  await staging.connect();
  await production.connect();

  /** An application `name` (staging → production) with service `<name>-api`. */
  async function application(name: string, channels: { staging?: object; production?: object } = {}) {
    const app = {
      application: {
        name,
        releaseChannels: [
          { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 }, ...channels.staging },
          {
            name: "production",
            runtimes: [{ runtime: "k8s-production" }],
            constants: { replicas: 3 },
            ...channels.production,
          },
        ],
      },
    };
    const service = { service: { ...docs.api.service, name: `${name}-api`, application: name } };
    const res = await api("/v1/configs", { method: "PUT", body: [app, service] });
    expect(res.status).toBe(200);
  }

  /** A release of `<app>-api` at image tag `tag`, from a signed CI webhook. */
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

  const channelEvents = (app: string, channel: string): Promise<StoredEvent[]> =>
    store.read(streams.channel(app, channel));
  const releaseEvents = (releaseId: string): Promise<StoredEvent[]> => store.read(streams.release(releaseId));
  const convergedOn = async (app: string, channel: string, releaseId: string, times = 1) =>
    (await channelEvents(app, channel)).filter((e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId)
      .length >= times;

  return {
    stack,
    secrets,
    store,
    staging,
    production,
    api,
    application,
    release,
    channelEvents,
    releaseEvents,
    convergedOn,
    async close() {
      await Promise.all([staging.close(), production.close()]);
      await stack.stop();
    },
  };
}

/** Polls an async condition until it holds; fails with a clear error when it never does. */
export async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
