import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";

/**
 * Named secrets users keep in Slipway (the signing keys of outbound webhooks): one item per secret
 * in their own table, so that only the functions that need a value are linked to it — the HTTP API
 * writes and lists, the notifier reads. Values never enter the event log, which anyone with the
 * `read` scope can page through; the log records only that a secret was set or deleted.
 * DynamoDB encrypts the table at rest.
 */
export function secretTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    BillingMode: "PAY_PER_REQUEST",
  };
}

/** A secret as it may be shown: everything but its value. */
export type SecretInfo = { name: string; updatedAt: string; updatedBy: string };

// All secrets share one partition, so listing them is one Query; there are few, and they are small.
const PK = "secret";

export class SecretStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** The value of a secret, or undefined when none is set under that name. */
  async value(name: string): Promise<string | undefined> {
    const res = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: PK, sk: name }, ConsistentRead: true }),
    );
    return typeof res.Item?.value === "string" ? res.Item.value : undefined;
  }

  async put(name: string, value: string, by: { updatedAt: string; updatedBy: string }): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { pk: PK, sk: name, value, ...by } }));
  }

  /** Deletes a secret; says whether there was one. */
  async delete(name: string): Promise<boolean> {
    const res = await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: PK, sk: name }, ReturnValues: "ALL_OLD" }),
    );
    return !!res.Attributes;
  }

  async list(): Promise<SecretInfo[]> {
    const items: SecretInfo[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": PK },
          // The value is not read: a list never carries it.
          ProjectionExpression: "sk, updatedAt, updatedBy",
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? [])
        items.push({ name: String(item.sk), updatedAt: String(item.updatedAt), updatedBy: String(item.updatedBy) });
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
