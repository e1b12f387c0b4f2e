import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import { withProgress, type ChannelView, type RuntimeProgress } from "../../core/index.js";
import { putInBatches } from "./batch-write.js";
import { EventFeedTable } from "./event-feed.js";
import { ReleaseSummaryTable } from "./release-summaries.js";

/**
 * The read-model table: views derived from the event log, rebuildable from it. Items are keyed
 * `pk` / `sk`. The connection index lives here too: the $connect handler writes it at once so the
 * agent's first message finds its runtime, and AgentConnected in the log is its source of truth.
 */
export function readModelTableDefinition(tableName: string): CreateTableCommandInput {
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

/** What an agent last said runs in its runtime (a `state` message): an observation, not a decision. */
export type ObservedState = {
  runtime: string;
  reportedAt: string;
  leaseGeneration: number;
  services: ObservedService[];
};
export type ObservedService = {
  service: string;
  runtime?: string;
  releaseId?: string;
  images?: string[];
  healthy: boolean;
};

export type AgentConnection = {
  connectionId: string;
  runtime: string;
  leaseGeneration: number;
  agentVersion: string;
  connectedAt: string;
};

/**
 * How many items the convergence count of a dispatch to `instructions` runtimes is spread over:
 * about 50 instruction ids (3 KB) an item, 1 for a handful of runtimes, at most 32 (so 1,600 ids
 * per item at 50,000 runtimes is still under DynamoDB's 400 KB).
 */
export function convergenceShards(instructions: number): number {
  return Math.min(32, Math.max(1, Math.ceil(instructions / 50)));
}

function shardOf(id: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % shards;
}

/** API Gateway closes a connection after 2 h; its index entry expires a little later (DynamoDB TTL). */
const CONNECTION_TTL_S = 3 * 60 * 60;

export class ReadModels {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** The release list's summaries (see release-summaries.ts). */
  get releases(): ReleaseSummaryTable {
    return new ReleaseSummaryTable(this.db, this.tableName);
  }

  /** The log as one feed across streams (see event-feed.ts). */
  get feed(): EventFeedTable {
    return new EventFeedTable(this.db, this.tableName);
  }

  async putConnection(c: AgentConnection): Promise<void> {
    const expiresAt = Math.floor(Date.parse(c.connectedAt) / 1000) + CONNECTION_TTL_S;
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `connection#${c.connectionId}`, sk: "-", ...c, expiresAt },
      }),
    );
  }

  async connection(connectionId: string): Promise<AgentConnection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `connection#${connectionId}`, sk: "-" },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const { runtime, leaseGeneration, agentVersion, connectedAt } = Item as AgentConnection;
    return { connectionId, runtime, leaseGeneration, agentVersion, connectedAt };
  }

  async deleteConnection(connectionId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: `connection#${connectionId}`, sk: "-" } }),
    );
  }

  async putObservedState(state: ObservedState): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: `observed#${state.runtime}`, sk: "-", ...state } }),
    );
  }

  async observedState(runtime: string): Promise<ObservedState | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `observed#${runtime}`, sk: "-" } }),
    );
    if (!Item) return undefined;
    const { reportedAt, leaseGeneration, services } = Item as ObservedState;
    return { runtime, reportedAt, leaseGeneration, services };
  }

  /** Releases waiting on gates in a channel: what a resumed channel evaluates again. */
  async markWaiting(application: string, channel: string, releaseId: string, reasons: string[]): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `waiting#${application}/${channel}`, sk: releaseId, reasons },
      }),
    );
  }

  async clearWaiting(application: string, channel: string, releaseId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: `waiting#${application}/${channel}`, sk: releaseId } }),
    );
  }

  async waiting(application: string, channel: string): Promise<{ releaseId: string; reasons: string[] }[]> {
    const out: { releaseId: string; reasons: string[] }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": `waiting#${application}/${channel}` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? [])
        out.push({ releaseId: item.sk as string, reasons: (item.reasons as string[]) ?? [] });
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * Why each of these releases waits in its channel, if it does: keyed `<channel>/<releaseId>`.
   * Read in batches of 100 keys (BatchGetItem), retrying what DynamoDB leaves unprocessed.
   */
  async waitingReasons(
    keys: readonly { application: string; channel: string; releaseId: string }[],
  ): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Record<string, unknown>[] = keys
        .slice(i, i + 100)
        .map((k) => ({ pk: `waiting#${k.application}/${k.channel}`, sk: k.releaseId }));
      for (let attempt = 0; pending.length; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        const { Responses, UnprocessedKeys } = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        for (const item of Responses?.[this.tableName] ?? []) {
          const channel = (item.pk as string).slice((item.pk as string).indexOf("/") + 1);
          out.set(`${channel}/${item.sk as string}`, (item.reasons as string[]) ?? []);
        }
        pending = UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return out;
  }

  /**
   * Writes a view computed from a stream at `version`, unless a view from a later version is
   * already there: redelivered or reordered records can never move a view backwards.
   */
  async putView(pk: string, sk: string, version: number, view: object): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk, sk, version, view: JSON.stringify(view) },
          ConditionExpression: "attribute_not_exists(pk) OR version <= :v",
          ExpressionAttributeValues: { ":v": version },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /**
   * Whether each runtime has been linked (an agent registered since its token was issued), as the
   * projector last wrote it; a runtime it has written nothing for is missing from the answer.
   * Consistent reads, 100 keys a request.
   */
  async runtimesLinked(runtimes: readonly string[]): Promise<Map<string, boolean>> {
    const items = await this.getAll([...new Set(runtimes)].map((r) => ({ pk: `runtime#${r}`, sk: "linked" })));
    return new Map(
      items.map((item) => [
        String(item.pk).slice("runtime#".length),
        (JSON.parse(item.view as string) as { linked: boolean }).linked,
      ]),
    );
  }

  /** The items of `keys` that exist, read consistently, 100 keys a BatchGet, retrying what it leaves unprocessed. */
  private async getAll(keys: { pk: string; sk: string }[]): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Record<string, unknown>[] = keys.slice(i, i + 100);
      while (pending.length) {
        const { Responses, UnprocessedKeys } = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        out.push(...(Responses?.[this.tableName] ?? []));
        pending = (UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
      }
    }
    return out;
  }

  async view<T>(pk: string, sk: string): Promise<T | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk } }));
    return Item ? (JSON.parse(Item.view as string) as T) : undefined;
  }

  /** Every item under one partition key, in sort-key order. */
  async items(pk: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": pk },
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * Records that an instruction of a release of a service in a channel succeeded, and answers every
   * one recorded so far. Each success is an ADD to a string set — runtimes reporting at once never
   * contend, and a repeat changes nothing — in one of `shards` items chosen by the instruction id
   * (see convergenceShards: the same for every success of one dispatch), so that no item grows
   * past a few KB (an update costs a write unit per KB of the
   * item, and one key takes 1,000 units a second): a thousand runtimes' successes cost a few
   * thousand units spread over the shards, not one item's 60 KB rewritten a thousand times. The
   * answer reads every shard consistently, so the success that completes the count sees it.
   */
  async addSucceeded(
    application: string,
    channel: string,
    service: string,
    releaseId: string,
    instructionId: string,
    shards: number,
  ): Promise<Set<string>> {
    const pk = `converge#${application}/${channel}`;
    const shardKey = (n: number) => ({ pk, sk: `${service}#${releaseId}#${shards}.${n}` });
    const own = shardOf(instructionId, shards);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: shardKey(own),
        UpdateExpression: "ADD succeeded :ids",
        ExpressionAttributeValues: { ":ids": new Set([instructionId]) },
      }),
    );
    const out = new Set<string>();
    for (const item of await this.getAll(Array.from({ length: shards }, (_, n) => shardKey(n))))
      for (const id of (item.succeeded as Set<string> | undefined) ?? []) out.add(id);
    return out;
  }

  /**
   * Writes what a runtime's delivery stream says of one service's instruction in a channel, as of
   * `version` of that stream, unless a later version is there already.
   */
  async putProgress(application: string, version: number, progress: RuntimeProgress): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: `app#${application}`,
            sk: `progress#${progress.channel}#${progress.service}#${progress.runtime}`,
            version,
            progress: JSON.stringify(progress),
          },
          ConditionExpression: "attribute_not_exists(pk) OR version <= :v",
          ExpressionAttributeValues: { ":v": version },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  /** An application's channel views, each with its runtimes' progress (one query). */
  async channelViews(application: string): Promise<ChannelView[]> {
    const items = await this.items(`app#${application}`);
    const progress = items.flatMap((i) =>
      typeof i.progress === "string" ? [JSON.parse(i.progress) as RuntimeProgress] : [],
    );
    return items
      .filter((i) => typeof i.view === "string" && (i.sk as string).startsWith("channel#"))
      .map((i) => withProgress(JSON.parse(i.view as string) as ChannelView, progress));
  }

  async views<T>(pk: string): Promise<{ sk: string; view: T }[]> {
    return (await this.items(pk))
      .filter((i) => typeof i.view === "string")
      .map((i) => ({ sk: i.sk as string, view: JSON.parse(i.view as string) as T }));
  }

  /**
   * Records a release as its service's newest, unless a newer one (release ids sort by creation
   * time) is recorded already: writes in any order, and twice, leave the newest.
   */
  async putNewestRelease(application: string, service: string, releaseId: string): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `newest-release#${application}/${service}`, sk: "-", releaseId },
          ConditionExpression: "attribute_not_exists(pk) OR releaseId <= :id",
          ExpressionAttributeValues: { ":id": releaseId },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async newestRelease(application: string, service: string): Promise<string | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `newest-release#${application}/${service}`, sk: "-" },
        ConsistentRead: true,
      }),
    );
    return typeof Item?.releaseId === "string" ? Item.releaseId : undefined;
  }

  /**
   * Lines of releases' timelines, in batches of 25 (BatchWriteItem), retrying what DynamoDB leaves
   * unprocessed. Each is keyed by time and position, so writing one twice is writing it once.
   */
  async putTimelines(lines: { releaseId: string; entry: TimelineEntry }[]): Promise<void> {
    await putInBatches(
      this.db,
      this.tableName,
      lines.map(({ releaseId, entry }) => ({
        pk: `timeline#${releaseId}`,
        sk: `${entry.occurredAt}#${entry.streamId}#${String(entry.version).padStart(10, "0")}`,
        ...entry,
      })),
    );
  }

  async timeline(releaseId: string): Promise<TimelineEntry[]> {
    return (await this.items(`timeline#${releaseId}`)).map(
      ({ streamId, version, type, occurredAt, actor, data }) =>
        ({ streamId, version, type, occurredAt, actor, data }) as TimelineEntry,
    );
  }
}

export type TimelineEntry = {
  streamId: string;
  version: number;
  type: string;
  occurredAt: string;
  actor: { kind: string; id: string };
  data: unknown;
};
