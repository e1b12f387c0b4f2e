import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import WebSocket from "ws";
import { eventTableDefinition } from "../../functions/adapters/event-store.js";
import { ensureTable, LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { LocalWebSocketGateway } from "../../infra/local/websocket-gateway.js";
import { pool } from "../../functions/services/pool.js";
import { summarize, type Summary } from "./stats.js";

/**
 * The floors every figure is set against, measured in the same run on the same stand-ins: what one
 * conditional PutItem to DynamoDB Local and one WebSocket round trip through the local gateway cost.
 * A figure measured in repetitions measures its floor again beside each one.
 */
export async function dynamoFloor(endpoint: string) {
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const table = `bench-floor-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, eventTableDefinition(table));
  const put = (stream: string, version: number) =>
    client.send(
      new PutItemCommand({
        TableName: table,
        Item: { stream: { S: stream }, version: { N: String(version) }, type: { S: "Floor" }, data: { S: "{}" } },
        ConditionExpression: "attribute_not_exists(#v)",
        ExpressionAttributeNames: { "#v": "version" },
      }),
    );
  let calls = 0;
  for (let i = 0; i < 20; i++) await put("warmup", i + 1);
  return {
    /** One conditional put after another: their latency. */
    async putLatencyMs(samples: number): Promise<Summary> {
      const stream = `latency-${calls++}`;
      const latencies: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t = performance.now();
        await put(stream, i + 1);
        latencies.push(performance.now() - t);
      }
      return summarize(latencies);
    },
    /** `writes` conditional puts, `concurrency` at a time, each writer on a stream of its own: puts per second. */
    async putsPerSecond(writes: number, concurrency: number): Promise<number> {
      const prefix = `rate-${calls++}`;
      const started = performance.now();
      await pool(writes, concurrency, (i) =>
        put(`${prefix}-${i % concurrency}`, Math.floor(i / concurrency) + 1).then(() => undefined),
      );
      return writes / ((performance.now() - started) / 1000);
    },
    async close(): Promise<void> {
      await client.send(new DeleteTableCommand({ TableName: table }));
      client.destroy();
    },
  };
}

export type DynamoFloor = Awaited<ReturnType<typeof dynamoFloor>>;

/** A message from a client to the gateway and back through the Management API, as instructions travel. */
export async function webSocketFloor(samples: number): Promise<Summary> {
  let management: ApiGatewayManagementApiClient | undefined;
  const gateway = new LocalWebSocketGateway({
    stage: "floor",
    routes: {
      $default: async (event) => {
        await management!.send(
          new PostToConnectionCommand({ ConnectionId: event.requestContext.connectionId, Data: event.body ?? "" }),
        );
        return { statusCode: 200 };
      },
    },
  });
  await gateway.listen(0);
  management = new ApiGatewayManagementApiClient({
    endpoint: gateway.managementEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const ws = new WebSocket(gateway.url);
  await new Promise((r) => ws.once("open", r));
  const roundTrip = () =>
    new Promise<number>((resolve) => {
      const t = performance.now();
      ws.once("message", () => resolve(performance.now() - t));
      ws.send(JSON.stringify({ action: "echo", n: 1 }));
    });
  for (let i = 0; i < 20; i++) await roundTrip();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await roundTrip());
  ws.close();
  management.destroy();
  await gateway.close();
  return summarize(times);
}
