import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";

export type HealthCheck = () => Promise<string | void>;

/** Healthy when the table exists and is active. */
export function tableCheck(client: DynamoDBClient, tableName: string): HealthCheck {
  return async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus !== "ACTIVE") throw new Error(`table ${tableName} is ${Table?.TableStatus ?? "missing"}`);
    return `table ${tableName} is active`;
  };
}
