import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { inject } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore, eventTableDefinition } from "../../functions/adapters/event-store.js";
import { ensureTable, LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";

export function localDynamoConfig() {
  return { endpoint: inject("dynamoEndpoint"), region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
}

/** A table of this test's own, so test files never see each other's data. */
export async function isolatedTable(prefix: string, definition: (name: string) => CreateTableCommandInput) {
  const client = new DynamoDBClient(localDynamoConfig());
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, definition(name));
  return {
    name,
    drop: async () => {
      await client.send(new DeleteTableCommand({ TableName: name }));
      client.destroy();
    },
  };
}

export async function isolatedEventStore() {
  const table = await isolatedTable("events", eventTableDefinition);
  const db = documentClient(localDynamoConfig());
  return { store: new EventStore(db, table.name), db, table };
}
