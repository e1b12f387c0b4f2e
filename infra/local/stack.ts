import { resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { eventTableDefinition } from "../../functions/adapters/event-store.js";
import { ensureTable, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal, type DynamoDbLocal } from "./dynamodb.js";
import { ensurePortFree } from "./ports.js";

export type LocalStackOptions = {
  /** Where DynamoDB Local keeps its data; undefined keeps everything in memory. */
  dataDir?: string;
  /** HTTP port; 0 picks a free one. */
  httpPort?: number;
  dynamoPort?: number;
  stage?: string;
};

export type LocalStack = {
  httpUrl: string;
  dynamoEndpoint: string;
  dataDir?: string;
  tables: { events: string };
  stop: () => Promise<void>;
};

/**
 * Brings the backend up on one machine: AWS's DynamoDB Local, the tables as on AWS, and the very
 * handlers Lambda runs, which find their resources through the same `SST_RESOURCE_*` variables.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stage = options.stage ?? "local";
  const httpPort = options.httpPort ?? 0;
  if (httpPort !== 0) await ensurePortFree(httpPort, "the HTTP API");

  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  const dynamo: DynamoDbLocal = await startDynamoDbLocal({
    ...(dataDir ? { dataDir: resolve(dataDir, "dynamodb") } : {}),
    ...(options.dynamoPort ? { port: options.dynamoPort } : {}),
  });
  const stops: (() => Promise<void>)[] = [dynamo.stop];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };

  try {
    const tables = { events: `slipway-${stage}-events` };
    const admin = new DynamoDBClient({ endpoint: dynamo.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    await ensureTable(admin, eventTableDefinition(tables.events));
    admin.destroy();

    // Exactly what SST hands a Lambda: the app, each linked resource, and (locally) where AWS is.
    Object.assign(process.env, {
      SST_RESOURCE_App: JSON.stringify({ name: "slipway", stage }),
      SST_RESOURCE_Events: JSON.stringify({ name: tables.events }),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    });

    // Imported only now, so the handlers' module-level state is built from the variables above.
    const { createHttpApp, depsFromResources } = await import("../../functions/http.js");
    const app = createHttpApp(depsFromResources());
    const server = await new Promise<ServerType>((ready) => {
      const s = serve({ fetch: app.fetch, port: httpPort, hostname: "127.0.0.1" }, () => ready(s));
    });
    stops.push(() => new Promise<void>((done) => server.close(() => done())));
    const { port } = server.address() as AddressInfo;

    return { httpUrl: `http://127.0.0.1:${port}`, dynamoEndpoint: dynamo.endpoint, ...(dataDir ? { dataDir } : {}), tables, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
