import type { AgentGateway } from "../adapters/agent-gateway.js";
import type { EventStore } from "../adapters/event-store.js";
import type { HealthCheck } from "../adapters/health.js";
import type { NotificationQueue } from "../adapters/notification-queue.js";
import type { SecretStore } from "../adapters/secret-store.js";
import { silentLogger, type Logger } from "../adapters/logger.js";
import type { ReadModels } from "../adapters/read-models.js";
import type { SlackPoster } from "../adapters/slack.js";
import type { WakeUpQueue } from "../adapters/wake-up-queue.js";

/**
 * What the application services need from the outside world. The wiring module builds these from
 * SST's linked resources; tests and the local stack hand in their own.
 */

/** What the stream, queue and WebSocket consumers share. */
export type BackendDeps = {
  store: EventStore;
  readModels: ReadModels;
  gateway: AgentGateway;
  scheduler: WakeUpQueue;
  /** The HTTP API's base URL: agents fetch instructions too large for one WebSocket message from it. */
  apiUrl?: string;
  /** The incoming-webhook URL approval requests are posted to, if any. */
  slackWebhookUrl?: string;
  postToSlack?: SlackPoster;
  /** Where outcome notifications are queued for the notifier; without it, none are sent. */
  notifications?: NotificationQueue;
  /** How many minor versions of agents are supported (SLIPWAY_AGENT_SUPPORTED_MINORS, default 3). */
  agentSupportedMinors?: number;
  now?: () => Date;
  logger?: Logger;
};

/** What the notifier needs: the log (it records deliveries), its queue (for the next try), and the secrets it signs with. */
export type NotifierDeps = {
  store: EventStore;
  notifications: NotificationQueue;
  secretStore: SecretStore;
  postToSlack: SlackPoster;
  /** The waits between tries, in seconds (core's NOTIFICATION_RETRY_DELAYS_S unless set). */
  retryDelays?: readonly number[];
  now?: () => Date;
  logger?: Logger;
};

/** The secrets the API checks requests against. On AWS they are SST secrets; locally the stack makes them. */
export type Secrets = {
  /** Bootstrap key with the admin scope, for the first requests (and for issuing further keys). */
  adminApiKey: string;
  /** HMAC-SHA256 key of the CI webhook's `X-Slipway-Signature-256`. */
  webhookSecret: string;
  /** Slack's signing secret, for `X-Slack-Signature` on interactive callbacks. */
  slackSigningSecret: string;
};

/**
 * What the HTTP API needs. With `gateway` and `scheduler` it also evaluates, dispatches and pushes
 * on the write path what its commands make worth evaluating (see writePathOf); without them (tests
 * of the API alone) it leaves that to the reactor.
 */
export type ApiDeps = {
  store: EventStore;
  readModels: ReadModels;
  gateway?: AgentGateway;
  scheduler?: WakeUpQueue;
  /** The HTTP API's own base URL: agents fetch instructions too large for one WebSocket message from it. */
  apiUrl?: string;
  secrets: Secrets;
  /** Named secrets users keep (the signing keys of their outbound webhooks). */
  secretStore: SecretStore;
  /** How long a runtime whose agent dropped counts as reconnecting before it counts as disconnected. */
  agentGraceSeconds?: number;
  /** How many minor versions of agents are supported (SLIPWAY_AGENT_SUPPORTED_MINORS, default 3). */
  agentSupportedMinors?: number;
  checks: Record<string, HealthCheck>;
  /** The agents' WebSocket URL, written into install manifests. */
  agentsUrl?: string;
  now?: () => Date;
  logger?: Logger;
};

export type { Logger, LogKeys } from "../adapters/logger.js";

/** The HTTP API's deps as the backend's, when it has what evaluating and pushing need. */
export function writePathOf(deps: ApiDeps | BackendDeps): BackendDeps | undefined {
  const { gateway, scheduler } = deps;
  return gateway && scheduler ? { ...deps, gateway, scheduler } : undefined;
}

export function nowOf(deps: { now?: () => Date }): Date {
  return deps.now?.() ?? new Date();
}

/** The logger a use case reports through; code run without one (tests, tools) logs nothing. */
export function loggerOf(deps: { logger?: Logger }): Logger {
  return deps.logger ?? silentLogger;
}
