import { SQSClient } from "@aws-sdk/client-sqs";
import { Resource } from "sst";
import { AgentGateway } from "./adapters/agent-gateway.js";
import { documentClient } from "./adapters/dynamo.js";
import { EventStore } from "./adapters/event-store.js";
import { tableCheck } from "./adapters/health.js";
import { createLogger, type Logger } from "./adapters/logger.js";
import { ReadModels } from "./adapters/read-models.js";
import { postToSlack } from "./adapters/slack.js";
import { WakeUpQueue } from "./adapters/wake-up-queue.js";
import type { ApiDeps, BackendDeps, Secrets } from "./services/deps.js";
import { narrator } from "./services/narration.js";

/**
 * The composition root: the one place that turns SST's linked resources (`Resource.X`, on AWS and
 * in the local stack alike) into the adapters the application services are handed. Entry points
 * build their handler from here once per container.
 */

let backend: BackendDeps | undefined;

/**
 * The process's logger: JSON lines (as on AWS) unless LOG_FORMAT=human, which `npm start` sets;
 * the level comes from LOG_LEVEL. It knows the secrets this process holds, to keep them out.
 */
function loggerFromEnvironment(component: string | undefined, secrets: (string | undefined)[]): Logger {
  return createLogger({
    format: process.env.LOG_FORMAT === "human" ? "human" : "json",
    secrets,
    ...(component ? { keys: { component } } : {}),
  });
}

/** What the stream, queue and WebSocket handlers run against; built once per container. */
export function backendFromResources(): BackendDeps {
  if (backend) return backend;
  const db = documentClient();
  const slack = process.env.SLIPWAY_SLACK_WEBHOOK_URL;
  // Each handler names itself on its lines; the events it records name who recorded them.
  const logger = loggerFromEnvironment(undefined, [slack]);
  backend = {
    store: new EventStore(db, Resource.Events.name, { onAppended: narrator(logger) }),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    gateway: new AgentGateway(Resource.Agents.managementEndpoint),
    scheduler: new WakeUpQueue(new SQSClient({}), Resource.Preconditions.url),
    apiUrl: Resource.Api.url,
    ...(slack ? { slackWebhookUrl: slack } : {}),
    postToSlack,
    logger,
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
  const secrets = secretsFromResources();
  const logger = loggerFromEnvironment("api", Object.values(secrets));
  return {
    store: new EventStore(db, Resource.Events.name, { onAppended: narrator(logger) }),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    secrets,
    agentGraceSeconds: Number(process.env.SLIPWAY_AGENT_GRACE_SECONDS ?? 180),
    checks: { eventLog: tableCheck(db, Resource.Events.name) },
    agentsUrl: Resource.Agents.url,
    logger,
  };
}
