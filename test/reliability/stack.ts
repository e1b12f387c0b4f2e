import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { ReadModels } from "../../functions/adapters/read-models.js";
import { SecretStore } from "../../functions/adapters/secret-store.js";
import { createHttpApp } from "../../functions/http.js";
import { routeAccess, type Access } from "../../functions/routes/access.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";

/** What the reliability parts share: the routes the API has, and a count of everything in the log. */

/** Every route of the HTTP API with the access it declares, as `routeAccess` walks the app. */
export function apiRoutes(): { method: string; path: string; access: Access }[] {
  // The app is only walked here, never called: its storage is never reached.
  const db = documentClient({ endpoint: "http://127.0.0.1:9", region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const app = createHttpApp({
    store: new EventStore(db, "unused"),
    readModels: new ReadModels(db, "unused"),
    secretStore: new SecretStore(db, "unused"),
    secrets: { adminApiKey: "unused-unused-unused", webhookSecret: "unused", slackSigningSecret: "unused" },
    checks: {},
  });
  return routeAccess(app).map((r) => ({ ...r, access: r.access! }));
}

/** A route's path with every parameter filled in. */
export const concrete = (path: string, value = "x") => path.replace(/:[^/]+/g, encodeURIComponent(value));

/**
 * How many items the event table holds — events and command markers alike — so a test can say
 * that a refused request wrote nothing. A Scan: fine for a test, never on a request path.
 */
export async function logSize(dynamoEndpoint: string, table: string): Promise<number> {
  const client = new DynamoDBClient({ endpoint: dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  let count = 0;
  let start: Record<string, never> | undefined;
  try {
    do {
      const page = await client.send(
        new ScanCommand({ TableName: table, Select: "COUNT", ConsistentRead: true, ExclusiveStartKey: start }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
  } finally {
    client.destroy();
  }
  return count;
}
