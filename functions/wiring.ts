import { SQSClient } from "@aws-sdk/client-sqs";
import { Resource } from "sst";
import { AgentGateway } from "./adapters/agent-gateway.js";
import { documentClient } from "./adapters/dynamo.js";
import { EventStore } from "./adapters/event-store.js";
import { tableCheck } from "./adapters/health.js";
import { ReadModels } from "./adapters/read-models.js";
import { postToSlack } from "./adapters/slack.js";
import { WakeUpQueue } from "./adapters/wake-up-queue.js";
import type { ApiDeps, BackendDeps, Secrets } from "./services/deps.js";

/**
 * The composition root: the one place that turns SST's linked resources (`Resource.X`, on AWS and
 * in the local stack alike) into the adapters the application services are handed. Entry points
 * build their handler from here once per container.
 */

let backend: BackendDeps | undefined;

/** What the stream, queue and WebSocket handlers run against; built once per container. */
export function backendFromResources(): BackendDeps {
  if (backend) return backend;
  const db = documentClient();
  const slack = process.env.SLIPWAY_SLACK_WEBHOOK_URL;
  backend = {
    store: new EventStore(db, Resource.Events.name),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    gateway: new AgentGateway(Resource.Agents.managementEndpoint),
    scheduler: new WakeUpQueue(new SQSClient({}), Resource.Preconditions.url),
    apiUrl: Resource.Api.url,
    ...(slack ? { slackWebhookUrl: slack } : {}),
    postToSlack,
    log: (line) => console.log(line),
  };
  return backend;
}

export function secretsFromResources(): Secrets {
  return {
    adminApiKey: Resource.AdminApiKey.value,
    webhookSecret: Resource.WebhookSecret.value,
    slackSigningSecret: Resource.SlackSigningSecret.value,
  };
}

/** What the HTTP API runs against. */
export function apiFromResources(): ApiDeps {
  const db = documentClient();
  return {
    store: new EventStore(db, Resource.Events.name),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    secrets: secretsFromResources(),
    agentGraceSeconds: Number(process.env.SLIPWAY_AGENT_GRACE_SECONDS ?? 180),
    checks: { eventLog: tableCheck(db, Resource.Events.name) },
    agentsUrl: Resource.Agents.url,
  };
}
