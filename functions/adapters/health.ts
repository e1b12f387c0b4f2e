import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";

export type HealthCheck = () => Promise<string | void>;
export type ComponentHealth = { ok: boolean; detail?: string };

/** Runs every check at once; a check passes unless it throws, and may return a detail line. */
export async function checkHealth(checks: Record<string, HealthCheck>): Promise<{ ok: boolean; components: Record<string, ComponentHealth> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, ComponentHealth]> => {
      try {
        const detail = await check();
        return [name, detail ? { ok: true, detail } : { ok: true }];
      } catch (err) {
        return [name, { ok: false, detail: err instanceof Error ? err.message : String(err) }];
      }
    }),
  );
  return { ok: entries.every(([, h]) => h.ok), components: Object.fromEntries(entries) };
}

/** Healthy when the table exists and is active. */
export function tableCheck(client: DynamoDBClient, tableName: string): HealthCheck {
  return async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus !== "ACTIVE") throw new Error(`table ${tableName} is ${Table?.TableStatus ?? "missing"}`);
    return `table ${tableName} is active`;
  };
}
