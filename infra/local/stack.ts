import { resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { eventTableDefinition } from "../../functions/adapters/event-store.js";
import { readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { secretTableDefinition } from "../../functions/adapters/secret-store.js";
import type { HealthCheck } from "../../functions/adapters/health.js";
import { silentLogger, type LogFormat, type Logger, type LogLevel } from "../../functions/adapters/logger.js";
import { ensureTable, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal } from "./dynamodb.js";
import {
  eventRecordFilter,
  functions as defaultFunctions,
  loadHandler,
  matchesFilter,
  queueMapping,
  settings,
  streamMapping,
  type FunctionManifest,
} from "./functions.js";
import { ensurePortFree } from "./ports.js";
import { makePrivateDir, tightenPrivateTree } from "./private-files.js";
import { loadLocalSecrets } from "./secrets.js";
import { SqsEventSourceMapping, type SqsEvent } from "./sqs-mapping.js";
import { LocalSqs } from "./sqs.js";
import { StreamEventSourceMapping, type DynamoStreamEvent } from "./stream-poller.js";
import {
  LocalWebSocketGateway,
  type WebSocketEvent,
  type WebSocketResult,
  type WebSocketRoutes,
} from "./websocket-gateway.js";

export type LocalStackOptions = {
  /** Where the stack keeps its data; undefined keeps everything in memory. */
  dataDir?: string;
  /** HTTP API port; 0 picks a free one. */
  httpPort?: number;
  /** WebSocket API port; 0 picks a free one. */
  wsPort?: number;
  dynamoPort?: number;
  stage?: string;
  /** The handlers to run; by default the ones infra/functions.ts names (the HTTP API runs in-process). */
  functions?: Omit<FunctionManifest, "http">;
  /** Shortened API Gateway limits, for tests. */
  websocket?: { idleTimeoutMs?: number; maxConnectionMs?: number };
  /**
   * How the handlers log, handed to them as on AWS through LOG_LEVEL and LOG_FORMAT. Without a
   * level, LOG_LEVEL if set, else warnings and errors only: a stack started by a test or a
   * benchmark stays quiet. Without a format, LOG_FORMAT if set, else JSON lines.
   */
  logging?: { level?: LogLevel; format?: LogFormat };
  /** Where the stand-ins report their own trouble: a handler that threw or timed out, a refused connection, a shutdown step. */
  logger?: Logger;
};

export type LocalStack = {
  httpUrl: string;
  wsUrl: string;
  managementEndpoint: string;
  dynamoEndpoint: string;
  sqsEndpoint: string;
  dataDir?: string;
  /** Where the admin API key, webhook secret and Slack signing secret are kept. */
  secretsPath: string;
  tables: { events: string; readModels: string; secrets: string };
  queues: {
    preconditions: string;
    preconditionsDlq: string;
    notifications: string;
    notificationsDlq: string;
    streamDlq: string;
  };
  stop: () => Promise<void>;
};

const CONSUMER_TIMEOUT_S = settings.timeoutSeconds;

/**
 * Brings the backend up on one machine: AWS's DynamoDB Local with the tables as on AWS, its stream
 * feeding the stream subscribers, a local SQS feeding the queue subscriber, a local API Gateway
 * WebSocket, and the HTTP API — all running the very handlers Lambda runs, which find their
 * resources through the same `SST_RESOURCE_*` variables.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stage = options.stage ?? "local";
  const logger = (options.logger ?? silentLogger).child({ component: "local" });
  const log = (line: string) => logger.warn(line);
  const failed = (name: string) => (err: unknown) => logger.error(`${name} failed`, { error: err });
  const fns = options.functions ?? defaultFunctions;
  if (options.httpPort) await ensurePortFree(options.httpPort, "the HTTP API");
  if (options.wsPort) await ensurePortFree(options.wsPort, "the WebSocket API");

  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  // The data folder holds every event and secret: the user's alone, also when an older run left it
  // (or anything in it) readable by others.
  if (dataDir) {
    makePrivateDir(dataDir);
    tightenPrivateTree(dataDir);
  }
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch((err: unknown) => log(`shutdown: ${String(err)}`));
  };

  try {
    const dynamo = await startDynamoDbLocal({
      ...(dataDir ? { dataDir: resolve(dataDir, "dynamodb") } : {}),
      ...(options.dynamoPort ? { port: options.dynamoPort } : {}),
    });
    stops.push(dynamo.stop);
    const aws = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

    const tables = {
      events: `slipway-${stage}-events`,
      readModels: `slipway-${stage}-read-models`,
      secrets: `slipway-${stage}-secrets`,
    };
    const admin = new DynamoDBClient({ ...aws, endpoint: dynamo.endpoint });
    stops.push(async () => admin.destroy());
    await ensureTable(admin, eventTableDefinition(tables.events));
    await ensureTable(admin, readModelTableDefinition(tables.readModels));
    await ensureTable(admin, secretTableDefinition(tables.secrets));
    const streamArn = (await admin.send(new DescribeTableCommand({ TableName: tables.events }))).Table!
      .LatestStreamArn!;

    const sqs = new LocalSqs(dataDir ? resolve(dataDir, "sqs.jsonl") : undefined);
    await sqs.listen();
    stops.push(() => sqs.close());
    const sqsClient = new SQSClient({ ...aws, endpoint: sqs.endpoint });
    stops.push(async () => sqsClient.destroy());
    const queueUrl = async (name: string, attributes: Record<string, string> = {}) =>
      (await sqsClient.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
    // A queue and its DLQ, as infra/queues.ts declares them.
    const withDlq = async (name: string) => {
      const dlq = await queueUrl(`slipway-${stage}-${name}-dlq`, {
        MessageRetentionPeriod: String(settings.dlqRetentionSeconds),
      });
      const queue = await queueUrl(`slipway-${stage}-${name}`, {
        VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: LocalSqs.arnOf(`slipway-${stage}-${name}-dlq`),
          maxReceiveCount: settings.maxReceiveCount,
        }),
      });
      return [queue, dlq] as const;
    };
    const [preconditions, preconditionsDlq] = await withDlq("preconditions");
    const [notifications, notificationsDlq] = await withDlq("notifications");
    const queues = {
      preconditions,
      preconditionsDlq,
      notifications,
      notificationsDlq,
      streamDlq: await queueUrl(`slipway-${stage}-stream-dlq`, {
        MessageRetentionPeriod: String(settings.dlqRetentionSeconds),
      }),
    };

    const routes: WebSocketRoutes = {};
    for (const [route, ref] of Object.entries(fns.websocketRoutes))
      routes[route] = await loadHandler<WebSocketEvent, WebSocketResult>(ref);
    const gateway = new LocalWebSocketGateway({ routes, stage, functionTimeoutMs: 29_000, log, ...options.websocket });
    await gateway.listen(options.wsPort ?? 0);
    stops.push(() => gateway.close());

    const { secrets, path: secretsPath } = loadLocalSecrets(dataDir);

    // The HTTP server listens first, so its URL can be handed to the handlers like any resource.
    let httpApp: { fetch: (request: Request) => Response | Promise<Response> } | undefined;
    const server = await new Promise<ServerType>((ready, fail) => {
      const s = serve(
        {
          fetch: (request) => (httpApp ? httpApp.fetch(request) : new Response("starting", { status: 503 })),
          port: options.httpPort ?? 0,
          hostname: "127.0.0.1",
        },
        () => ready(s),
      );
      s.once("error", fail);
    });
    stops.push(() => new Promise<void>((done) => server.close(() => done())));
    const { port } = server.address() as AddressInfo;
    const httpUrl = `http://127.0.0.1:${port}`;

    // Exactly what SST hands a Lambda: the app, each linked resource, and (locally) where AWS is.
    Object.assign(process.env, {
      SST_RESOURCE_App: JSON.stringify({ name: "slipway", stage }),
      SST_RESOURCE_Events: JSON.stringify({ name: tables.events }),
      SST_RESOURCE_ReadModels: JSON.stringify({ name: tables.readModels }),
      SST_RESOURCE_Secrets: JSON.stringify({ name: tables.secrets }),
      SST_RESOURCE_Preconditions: JSON.stringify({ url: queues.preconditions }),
      SST_RESOURCE_Notifications: JSON.stringify({ url: queues.notifications }),
      SST_RESOURCE_Api: JSON.stringify({ url: httpUrl }),
      SST_RESOURCE_Agents: JSON.stringify({ url: gateway.url, managementEndpoint: gateway.managementEndpoint }),
      SST_RESOURCE_AdminApiKey: JSON.stringify({ value: secrets.adminApiKey }),
      SST_RESOURCE_WebhookSecret: JSON.stringify({ value: secrets.webhookSecret }),
      SST_RESOURCE_SlackSigningSecret: JSON.stringify({ value: secrets.slackSigningSecret }),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      LOG_LEVEL: options.logging?.level ?? process.env.LOG_LEVEL ?? "warn",
      LOG_FORMAT: options.logging?.format ?? process.env.LOG_FORMAT ?? "json",
    });

    const streamMappings = await Promise.all(
      fns.streamSubscribers.map(async (s) => {
        const handler = await loadHandler<DynamoStreamEvent, unknown>(s.handler);
        return new StreamEventSourceMapping(
          { ...aws, endpoint: dynamo.endpoint },
          {
            functionName: s.name,
            handler,
            streamArn,
            ...(dataDir ? { checkpointPath: resolve(dataDir, "checkpoints", `${s.name}.json`) } : {}),
            ...streamMapping(s),
            bisectBatchOnFunctionError: true,
            onFailure: { sqs: sqsClient, queueUrl: queues.streamDlq },
            // Command markers share the table: the FilterCriteria the SST subscribers carry drops them.
            filter: (r) => matchesFilter(eventRecordFilter, r),
            timeoutMs: CONSUMER_TIMEOUT_S * 1000,
            onError: failed(s.name),
          },
        );
      }),
    );
    const queueMappings = await Promise.all(
      fns.queueSubscribers.map(async (q) => {
        const handler = await loadHandler<SqsEvent, unknown>(q.handler);
        return new SqsEventSourceMapping(sqsClient, {
          functionName: q.name,
          queueUrl: queues[q.queue],
          handler,
          ...queueMapping(q),
          timeoutMs: CONSUMER_TIMEOUT_S * 1000,
          onError: failed(q.name),
        });
      }),
    );
    for (const m of [...streamMappings, ...queueMappings]) {
      m.start();
      stops.push(() => m.stop());
    }

    // Imported only now, so the handlers' module-level state is built from the variables above.
    const { createHttpApp } = await import("../../functions/http.js");
    const { apiFromResources } = await import("../../functions/wiring.js");
    const deps = apiFromResources();
    const checks: Record<string, HealthCheck> = {
      ...deps.checks,
      queues: async () => {
        const depth = async (name: "preconditions" | "notifications") => {
          const attributes = (
            await sqsClient.send(
              new GetQueueAttributesCommand({
                QueueUrl: queues[name],
                AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
              }),
            )
          ).Attributes;
          return `${name} queue: ${attributes?.ApproximateNumberOfMessages ?? 0} ready, ${attributes?.ApproximateNumberOfMessagesDelayed ?? 0} delayed`;
        };
        return `${await depth("preconditions")}; ${await depth("notifications")}`;
      },
      websocket: async () => `${gateway.url}: ${gateway.connectionCount} connection(s)`,
      streamSubscribers: async () => `${streamMappings.length} subscriber(s) polling ${streamArn}`,
      queueSubscribers: async () => `${queueMappings.length} subscriber(s)`,
    };
    const app = createHttpApp({ ...deps, checks });
    httpApp = app;

    return {
      httpUrl,
      wsUrl: gateway.url,
      managementEndpoint: gateway.managementEndpoint,
      dynamoEndpoint: dynamo.endpoint,
      sqsEndpoint: sqs.endpoint,
      ...(dataDir ? { dataDir } : {}),
      secretsPath,
      tables,
      queues,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
