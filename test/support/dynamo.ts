import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { inject } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore, eventTableDefinition } from "../../functions/adapters/event-store.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import { SecretStore, secretTableDefinition } from "../../functions/adapters/secret-store.js";
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

/**
 * The storage the HTTP API's deps need, each table of this test's own: the event log, the read
 * models and the named secrets. `drop` removes all three.
 */
export async function isolatedApiStorage() {
  const { store, db, table } = await isolatedEventStore();
  const rm = await isolatedTable("read-models", readModelTableDefinition);
  const st = await isolatedTable("secrets", secretTableDefinition);
  return {
    store,
    db,
    readModels: new ReadModels(db, rm.name),
    secretStore: new SecretStore(db, st.name),
    drop: async () => {
      await table.drop();
      await rm.drop();
      await st.drop();
    },
  };
}
