import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { streams, type InstructionMessage } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import type { Secrets } from "../../functions/services/deps.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import type { Logger } from "../../functions/adapters/logger.js";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../infra/local/stack.js";
import { FakeAgent } from "./fake-agent.js";
import { docs } from "./fixtures.js";
import { signedWebhookHeaders } from "./webhooks.js";

/**
 * A local stack with the example runtimes linked and a fake agent on each, and the calls a test
 * of a staging → production pipeline makes: the API as admin, applications of its own, signed CI
 * webhooks, and the log. Each test makes its own application so tests do not see each other.
 */
export type Pipeline = Awaited<ReturnType<typeof openPipeline>>;

/** What a test adds to an application's documents: each part is merged into the one it names. */
export type ApplicationParts = {
  /** Fields of the staging channel. */
  staging?: object;
  /** Fields of the production channel. */
  production?: object;
  /** Fields of the application itself (notifications, freezes…). */
  application?: object;
  /** Fields of its service `<name>-api`. */
  service?: object;
};

export async function openPipeline(
  stage: string,
  options: {
    stagingOutcome?: (i: InstructionMessage) => "succeeded" | "failed" | "none";
    /** Where the stack's stand-ins report a handler that threw or timed out. */
    logger?: Logger;
    /** Handlers to run instead of infra/functions.ts's. */
    functions?: LocalStackOptions["functions"];
  } = {},
) {
  const stack: LocalStack = await startLocalStack({
    stage,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.functions ? { functions: options.functions } : {}),
  });
  const secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  const store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );

  /** A call to the HTTP API, as admin unless another API key is given. */
  async function api(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${stack.httpUrl}${path}`, {
      method: init.method ?? "GET",
      headers: {
        authorization: `Bearer ${init.key ?? secrets.adminApiKey}`,
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  /** Applies config documents, expecting them accepted. */
  async function apply(documents: object[]): Promise<void> {
    const res = await api("/v1/configs", { method: "PUT", body: documents });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  await apply([docs.staging, docs.production]);
  const token = async (runtime: string) =>
    (await api(`/v1/runtimes/${runtime}/link`, { method: "POST" })).body.token as string;
  /** The agent tokens the runtimes were linked with. */
  const tokens = { "k8s-staging": await token("k8s-staging"), "k8s-production": await token("k8s-production") };
  const staging = new FakeAgent(
    stack.wsUrl,
    "k8s-staging",
    tokens["k8s-staging"],
    options.stagingOutcome ? { outcome: options.stagingOutcome } : {},
  );
  const production = new FakeAgent(stack.wsUrl, "k8s-production", tokens["k8s-production"]);
  await staging.connect();
  await production.connect();

  /** The documents of an application `name` (staging → production) and its service `<name>-api`. */
  function applicationDocs(name: string, parts: ApplicationParts = {}): object[] {
    const app = {
      application: {
        name,
        releaseChannels: [
          { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 }, ...parts.staging },
          {
            name: "production",
            runtimes: [{ runtime: "k8s-production" }],
            constants: { replicas: 3 },
            ...parts.production,
          },
        ],
        ...parts.application,
      },
    };
    const service = { service: { ...docs.api.service, name: `${name}-api`, application: name, ...parts.service } };
    return [app, service];
  }

  /** Applies an application `name` (staging → production) with service `<name>-api`. */
  async function application(name: string, parts: ApplicationParts = {}): Promise<void> {
    await apply(applicationDocs(name, parts));
  }

  /** A CI webhook with `body`, signed with the webhook secret. */
  function webhook(body: object): Promise<Response> {
    const text = JSON.stringify(body);
    return fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      body: text,
      headers: { "content-type": "application/json", ...signedWebhookHeaders(secrets.webhookSecret, text) },
    });
  }

  /** A release of `<app>-api` at image tag `tag`, from a signed CI webhook (by `author`, if given). */
  async function release(app: string, tag: string, by: { author?: string } = {}): Promise<string> {
    const res = await webhook({
      application: app,
      service: `${app}-api`,
      params: { image: `registry.example.com/${app}/api:${tag}` },
      ...(by.author ? { author: by.author } : {}),
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
    tokens,
    staging,
    production,
    api,
    apply,
    applicationDocs,
    application,
    webhook,
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
