import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";

/**
 * Counts what AWS would bill, as the AWS SDK sees it: a middleware on every DynamoDB, SQS and API
 * Gateway Management API client in this process asks DynamoDB for the capacity each request
 * consumed (ReturnConsumedCapacity TOTAL) and tallies it, with the SQS requests and the
 * PostToConnection calls. DynamoDB Streams reads are Lambda's and not billed, so they are left out.
 */
export type Usage = {
  readUnits: number;
  writeUnits: number;
  dynamoRequests: number;
  sqsRequests: number;
  postToConnection: number;
};

export const usage: Usage = { readUnits: 0, writeUnits: 0, dynamoRequests: 0, sqsRequests: 0, postToConnection: 0 };
const READS = /^(Get|BatchGet|Query|Scan|TransactGet)/;

type Capacity = { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };

function tally(command: string, output: { ConsumedCapacity?: Capacity | Capacity[] }): void {
  const consumed = output.ConsumedCapacity;
  for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
    if (c.ReadCapacityUnits || c.WriteCapacityUnits) {
      usage.readUnits += c.ReadCapacityUnits ?? 0;
      usage.writeUnits += c.WriteCapacityUnits ?? 0;
    } else if (READS.test(command)) usage.readUnits += c.CapacityUnits ?? 0;
    else usage.writeUnits += c.CapacityUnits ?? 0;
  }
}

/**
 * DynamoDB requests by operation and what they touch — the part of the key before its first `#`
 * (`Query release`, `PutItem progress`; a transaction names each of its items) — for finding where a
 * release's requests go. Counted since the process started; `kindsSince` takes the difference.
 */
const kinds = new Map<string, number>();

function keyKind(input: Record<string, unknown> | undefined): string {
  const values = [input?.Key, input?.Item, input?.ExpressionAttributeValues].flatMap((o) =>
    o && typeof o === "object" ? Object.values(o as Record<string, unknown>) : [],
  );
  const key = values.find((v): v is string => typeof v === "string" && v.includes("#"));
  return key ? key.slice(0, key.indexOf("#")) : "?";
}

function kindOf(name: string, input: Record<string, unknown>): string {
  if (name === "TransactWriteItems" || name === "TransactWrite") {
    const items = (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[];
    return `${name} [${items.map((i) => Object.entries(i).map(([op, x]) => `${op} ${keyKind(x)}`)[0]).join(", ")}]`;
  }
  if (name === "BatchWriteItem" || name === "BatchWrite" || name === "BatchGetItem" || name === "BatchGet")
    return `${name} ${Object.keys(input.RequestItems ?? {}).length} table(s)`;
  return `${name} ${keyKind(input)}`;
}

export function kindsSince(before: ReadonlyMap<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of kinds) if (v - (before.get(k) ?? 0) > 0) out[k] = v - (before.get(k) ?? 0);
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

export function kindsNow(): ReadonlyMap<string, number> {
  return new Map(kinds);
}

let installed = false;

/** Installs the meter on the clients' shared `send`; idempotent. */
export function installMeter(): void {
  if (installed) return;
  installed = true;
  const owners = new Set<{ send: (...args: unknown[]) => Promise<unknown> }>();
  for (const cls of [DynamoDBClient, DynamoDBDocumentClient, SQSClient, ApiGatewayManagementApiClient]) {
    let proto = cls.prototype as object | null;
    while (proto && !Object.prototype.hasOwnProperty.call(proto, "send"))
      proto = Object.getPrototypeOf(proto) as object | null;
    if (proto) owners.add(proto as never);
  }
  for (const owner of owners) {
    const send = owner.send;
    owner.send = async function (this: { config?: { serviceId?: string } }, ...args: unknown[]) {
      const command = args[0] as { constructor: { name: string }; input: Record<string, unknown> };
      const name = command.constructor.name.replace(/Command$/, "");
      const service = this.config?.serviceId;
      if (service === "DynamoDB" && !/^(CreateTable|DeleteTable|DescribeTable|ListTables|UpdateTimeToLive)$/.test(name))
        command.input.ReturnConsumedCapacity = "TOTAL";
      const output = (await send.apply(this, args)) as Record<string, unknown>;
      if (service === "DynamoDB" && command.input.ReturnConsumedCapacity) {
        usage.dynamoRequests += 1;
        const kind = kindOf(name, command.input);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        tally(name, output);
      } else if (service === "SQS") {
        // Lambda's poller long-polls all the time; a receive costs per release only when it brings messages.
        const empty = name === "ReceiveMessage" && !(output.Messages as unknown[] | undefined)?.length;
        if (
          !empty &&
          /^(SendMessage|SendMessageBatch|ReceiveMessage|DeleteMessage|DeleteMessageBatch|ChangeMessageVisibility)$/.test(
            name,
          )
        )
          usage.sqsRequests += 1;
      } else if (service === "ApiGatewayManagementApi" && name === "PostToConnection") usage.postToConnection += 1;
      return output;
    };
  }
}

export function snapshot(): Usage {
  return { ...usage };
}

export function since(before: Usage): Usage {
  return Object.fromEntries(
    Object.entries(usage).map(([k, v]) => [k, Math.round((v - before[k as keyof Usage]) * 1000) / 1000]),
  ) as Usage;
}
