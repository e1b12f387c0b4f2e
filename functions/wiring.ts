import { SQSClient } from "@aws-sdk/client-sqs";
import { Resource } from "sst";
import { AgentGateway } from "./adapters/agent-gateway.js";
import { documentClient } from "./adapters/dynamo.js";
import { EventStore } from "./adapters/event-store.js";
import { tableCheck } from "./adapters/health.js";
import { createLogger, type Logger } from "./adapters/logger.js";
import { NotificationQueue } from "./adapters/notification-queue.js";
import { ReadModels } from "./adapters/read-models.js";
import { SecretStore } from "./adapters/secret-store.js";
import { postToSlack } from "./adapters/slack.js";
import { WakeUpQueue } from "./adapters/wake-up-queue.js";
import type { ApiDeps, BackendDeps, NotifierDeps, Secrets } from "./services/deps.js";
import { narrator } from "./services/narration.js";

/**
 * The composition root: the one place that turns SST's linked resources (`Resource.X`, on AWS and
 * in the local stack alike) into the adapters the application services are handed. Entry points
 * build their handler from here once per container.
 */

let backend: BackendDeps | undefined;

/** SLIPWAY_AGENT_SUPPORTED_MINORS: how many minor versions of agents are supported (default 3). */
const agentSupportedMinors = () => Number(process.env.SLIPWAY_AGENT_SUPPORTED_MINORS ?? 3);

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
    scheduler: new WakeUpQueue(sqs(), Resource.Preconditions.url),
    notifications: new NotificationQueue(sqs(), Resource.Notifications.url),
    apiUrl: Resource.Api.url,
    agentSupportedMinors: agentSupportedMinors(),
    ...(slack ? { slackWebhookUrl: slack } : {}),
    postToSlack,
    logger,
  };
  return backend;
}

let sqsClient: SQSClient | undefined;
function sqs(): SQSClient {
  return (sqsClient ??= new SQSClient({}));
}

/**
 * The waits between a notification's tries, in seconds: SLIPWAY_NOTIFICATION_RETRY_DELAYS
 * (`10,30,120`) if set, else core's default.
 */
export function notificationRetryDelays(value = process.env.SLIPWAY_NOTIFICATION_RETRY_DELAYS): number[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const delays = value.split(",").map((d) => Number(d.trim()));
  if (delays.some((d) => !Number.isInteger(d) || d < 0 || d > 900))
    throw new Error("SLIPWAY_NOTIFICATION_RETRY_DELAYS must be whole seconds from 0 to 900, separated by commas");
  return delays;
}

/** What the notifier runs against: the only handler besides the HTTP API that reads the Secrets table. */
export function notifierFromResources(): NotifierDeps {
  const db = documentClient();
  const logger = loggerFromEnvironment(undefined, []);
  const delays = notificationRetryDelays();
  return {
    store: new EventStore(db, Resource.Events.name, { onAppended: narrator(logger) }),
    notifications: new NotificationQueue(sqs(), Resource.Notifications.url),
    secretStore: new SecretStore(db, Resource.Secrets.name),
    postToSlack,
    ...(delays ? { retryDelays: delays } : {}),
    logger,
  };
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
    gateway: new AgentGateway(Resource.Agents.managementEndpoint),
    scheduler: new WakeUpQueue(sqs(), Resource.Preconditions.url),
    apiUrl: Resource.Api.url,
    secrets,
    secretStore: new SecretStore(db, Resource.Secrets.name),
    agentGraceSeconds: Number(process.env.SLIPWAY_AGENT_GRACE_SECONDS ?? 180),
    agentSupportedMinors: agentSupportedMinors(),
    checks: { eventLog: tableCheck(db, Resource.Events.name) },
    agentsUrl: Resource.Agents.url,
    logger,
  };
}
