import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { Resource } from "sst";
import { AgentGateway } from "./agent-gateway.js";
import { documentClient } from "./dynamo.js";
import { EventStore } from "./event-store.js";
import { ReadModels } from "./read-models.js";

/** Largest delay SQS allows on one message; longer waits are chained. */
export const MAX_DELAY_S = 900;

/** A precondition re-evaluation, due at `at`. */
export type WakeUp = { releaseId: string; channel: string; at: string };

/** Schedules re-evaluations as delayed SQS messages: nothing polls. */
export class Scheduler {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async schedule(wake: WakeUp, now: Date): Promise<void> {
    // Rounded down: the message arrives up to a second early and the scheduler waits out the rest,
    // so the gate is evaluated at its time rather than up to a second after it.
    const delay = Math.min(MAX_DELAY_S, Math.max(0, Math.floor((Date.parse(wake.at) - now.getTime()) / 1000)));
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(wake), DelaySeconds: delay }));
  }
}

/** Posts Slack Block Kit messages to an incoming webhook. */
export type SlackPoster = (webhookUrl: string, message: object) => Promise<void>;

export const postToSlack: SlackPoster = async (webhookUrl, message) => {
  const res = await fetch(webhookUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(message), signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`Slack answered ${res.status}`);
};

/** What the stream, queue and WebSocket handlers share. */
export type BackendDeps = {
  store: EventStore;
  readModels: ReadModels;
  gateway: AgentGateway;
  scheduler: Scheduler;
  /** The HTTP API's base URL: agents fetch instructions too large for one WebSocket message from it. */
  apiUrl?: string;
  /** The incoming-webhook URL approval requests are posted to, if any. */
  slackWebhookUrl?: string;
  postToSlack?: SlackPoster;
  now?: () => Date;
  log?: (line: string) => void;
};

export function nowOf(deps: { now?: () => Date }): Date {
  return deps.now?.() ?? new Date();
}

let cached: BackendDeps | undefined;

/** Dependencies on AWS (or the local stack), named through SST's linked resources; built once per container. */
export function backendFromResources(): BackendDeps {
  if (cached) return cached;
  const db = documentClient();
  const slack = process.env.SLIPWAY_SLACK_WEBHOOK_URL;
  cached = {
    store: new EventStore(db, Resource.Events.name),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    gateway: new AgentGateway(Resource.Agents.managementEndpoint),
    scheduler: new Scheduler(new SQSClient({}), Resource.Preconditions.url),
    apiUrl: Resource.Api.url,
    ...(slack ? { slackWebhookUrl: slack } : {}),
    postToSlack,
    log: (line) => console.log(line),
  };
  return cached;
}
