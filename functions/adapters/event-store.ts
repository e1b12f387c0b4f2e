import { randomUUID } from "node:crypto";
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  type CreateTableCommandInput,
} from "@aws-sdk/client-dynamodb";
import {
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  GetCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import {
  currentSchemaVersion,
  parseStoredEvent,
  validateEvent,
  type DomainEvent,
  type Metadata,
  type StoredEvent,
} from "../../events/index.js";
import { DomainError } from "../../core/errors.js";

/**
 * The event log on DynamoDB. One item per event: partition key `stream` (`<kind>#<id>`), sort key
 * `version` (1, 2, …). An append is conditioned on its versions not existing yet (and, after the
 * first, on the previous version existing), so two writers at the same expected version cannot both
 * win and no stream ever has a gap. A command id, when given, is written in the same transaction
 * as a marker item: a retried command finds it and gets the first attempt's events back.
 */

export const MAX_ITEM_BYTES = 400 * 1024;
export const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
/** DynamoDB allows 100 items per transaction; one is kept for the command marker, one for the check. */
export const MAX_EVENTS_PER_APPEND = 98;

const COMMAND_PREFIX = "command#";

export function eventTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: "stream", AttributeType: "S" },
      { AttributeName: "version", AttributeType: "N" },
    ],
    KeySchema: [
      { AttributeName: "stream", KeyType: "HASH" },
      { AttributeName: "version", KeyType: "RANGE" },
    ],
    BillingMode: "PAY_PER_REQUEST",
    StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_IMAGE" },
  };
}

/**
 * The log's refusals are DomainErrors, so every caller maps them like any other refusal: a
 * conflict the writer can retry (409), or an append too large for DynamoDB (413).
 */
export class ConcurrencyError extends DomainError {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(
      "conflict",
      "stream.conflict",
      `stream ${streamId} is no longer at version ${expectedVersion}: another writer appended first; retry`,
    );
    this.name = "ConcurrencyError";
  }
}

export class EventTooLargeError extends DomainError {
  constructor(
    readonly eventType: string,
    readonly bytes: number,
    readonly limit: number,
    what = "event",
  ) {
    super(
      "too_large",
      "event.too_large",
      `${what} ${eventType} is ${bytes} bytes; DynamoDB stores at most ${limit} bytes`,
    );
    this.name = "EventTooLargeError";
  }
}

export class TooManyEventsError extends DomainError {
  constructor(readonly count: number) {
    super(
      "too_large",
      "append.too_many_events",
      `an append holds at most ${MAX_EVENTS_PER_APPEND} events, not ${count}`,
    );
    this.name = "TooManyEventsError";
  }
}

export type AppendOptions = { commandId?: string };

export type AppendResult = {
  streamId: string;
  /** The stream's version after the append. */
  version: number;
  events: StoredEvent[];
  /** True when the command id had been appended before; `events` are that first append's. */
  duplicate: boolean;
};

type EventItem = {
  stream: string;
  version: number;
  eventId: string;
  type: string;
  schemaVersion: number;
  occurredAt: string;
  actor: Metadata["actor"];
  correlationId: string;
  causationId: string;
  data: string;
  commandId?: string;
};

type CommandItem = { stream: string; version: 0; targetStream: string; fromVersion: number; toVersion: number };

export type EventStoreOptions = {
  /** Told of every append that wrote events (not of a retried command's first events): for the log. */
  onAppended?: (events: readonly StoredEvent[]) => void;
};

export class EventStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly options: EventStoreOptions = {},
  ) {}

  /** Every event of a stream from `fromVersion` on, in order, read strongly consistently. */
  async read(streamId: string, fromVersion = 1, toVersion = Number.MAX_SAFE_INTEGER): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "#s = :s AND #v BETWEEN :from AND :to",
          ExpressionAttributeNames: { "#s": "stream", "#v": "version" },
          ExpressionAttributeValues: { ":s": streamId, ":from": Math.max(1, fromVersion), ":to": toVersion },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) events.push(itemToEvent(item as EventItem));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return events;
  }

  /**
   * Up to `limit` events of a stream below version `before` (all, without it), newest first, and
   * whether older ones remain: for reading a long stream back a page at a time.
   */
  async readBackwards(
    streamId: string,
    before: number | undefined,
    limit: number,
  ): Promise<{ events: StoredEvent[]; more: boolean }> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: before === undefined ? "#s = :s" : "#s = :s AND #v < :before",
        ExpressionAttributeNames: { "#s": "stream", ...(before === undefined ? {} : { "#v": "version" }) },
        ExpressionAttributeValues: { ":s": streamId, ...(before === undefined ? {} : { ":before": before }) },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return {
      events: (page.Items ?? []).map((item) => itemToEvent(item as EventItem)),
      more: page.LastEvaluatedKey !== undefined,
    };
  }

  /**
   * Appends events at `expectedVersion` (the version the writer read; 0 for a new stream), all or
   * none. Throws ConcurrencyError when another writer got there first.
   */
  async append(
    streamId: string,
    expectedVersion: number,
    events: readonly DomainEvent[],
    metadata: Metadata,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    if (streamId.startsWith(COMMAND_PREFIX)) throw new Error(`stream ids may not start with ${COMMAND_PREFIX}`);
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0)
      throw new Error(`expectedVersion must be a non-negative integer, not ${expectedVersion}`);
    if (events.length === 0) return { streamId, version: expectedVersion, events: [], duplicate: false };
    if (events.length > MAX_EVENTS_PER_APPEND) throw new TooManyEventsError(events.length);

    const items: EventItem[] = events.map((e, i) => {
      const valid = validateEvent(e);
      const item: EventItem = {
        stream: streamId,
        version: expectedVersion + i + 1,
        eventId: randomUUID(),
        type: valid.type,
        schemaVersion: currentSchemaVersion(valid.type),
        occurredAt: metadata.occurredAt,
        actor: metadata.actor,
        correlationId: metadata.correlationId,
        causationId: metadata.causationId,
        data: JSON.stringify(valid.data),
        ...(options.commandId ? { commandId: options.commandId } : {}),
      };
      const bytes = itemSize(item);
      if (bytes > MAX_ITEM_BYTES) throw new EventTooLargeError(valid.type, bytes, MAX_ITEM_BYTES);
      return item;
    });
    const total = items.reduce((sum, item) => sum + itemSize(item), 0);
    if (total > MAX_TRANSACTION_BYTES)
      throw new EventTooLargeError(`append of ${items.length} events`, total, MAX_TRANSACTION_BYTES, "the");

    const stored = () => {
      const appended = items.map(itemToEvent);
      this.options.onAppended?.(appended);
      return appended;
    };
    const version = expectedVersion + items.length;
    const notExists = "attribute_not_exists(#s)";
    const names = { "#s": "stream" };

    // The common case, one event on a new stream with no command id, is a single conditional put.
    if (items.length === 1 && expectedVersion === 0 && !options.commandId) {
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: items[0],
            ConditionExpression: notExists,
            ExpressionAttributeNames: names,
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) throw new ConcurrencyError(streamId, expectedVersion);
        throw err;
      }
      return { streamId, version, events: stored(), duplicate: false };
    }

    const transactItems: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]["TransactItems"]> = [];
    if (expectedVersion > 0) {
      // Without this check a writer that claims a version the stream has not reached would leave a gap.
      transactItems.push({
        ConditionCheck: {
          TableName: this.tableName,
          Key: { stream: streamId, version: expectedVersion },
          ConditionExpression: "attribute_exists(#s)",
          ExpressionAttributeNames: names,
        },
      });
    }
    for (const item of items) {
      transactItems.push({
        Put: { TableName: this.tableName, Item: item, ConditionExpression: notExists, ExpressionAttributeNames: names },
      });
    }
    const markerIndex = transactItems.length;
    if (options.commandId) {
      const marker: CommandItem = {
        stream: COMMAND_PREFIX + options.commandId,
        version: 0,
        targetStream: streamId,
        fromVersion: expectedVersion + 1,
        toVersion: version,
      };
      transactItems.push({
        Put: {
          TableName: this.tableName,
          Item: marker,
          ConditionExpression: notExists,
          ExpressionAttributeNames: names,
        },
      });
    }
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: transactItems }));
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const reasons = err.CancellationReasons ?? [];
      if (options.commandId && reasons[markerIndex]?.Code === "ConditionalCheckFailed") {
        return this.previousAppend(options.commandId);
      }
      if (reasons.some((r) => r.Code === "ConditionalCheckFailed"))
        throw new ConcurrencyError(streamId, expectedVersion);
      throw err;
    }
    return { streamId, version, events: stored(), duplicate: false };
  }

  /** The events a command appended before, found through its marker. */
  private async previousAppend(commandId: string): Promise<AppendResult> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { stream: COMMAND_PREFIX + commandId, version: 0 },
        ConsistentRead: true,
      }),
    );
    const marker = Item as CommandItem | undefined;
    if (!marker) throw new Error(`command ${commandId} was reported as appended but its marker is missing`);
    const events = await this.read(marker.targetStream, marker.fromVersion, marker.toVersion);
    return { streamId: marker.targetStream, version: marker.toVersion, events, duplicate: true };
  }
}

/** True for items of the log that are events, as opposed to command markers (for stream consumers). */
export function isEventItem(item: { stream?: unknown }): boolean {
  return typeof item.stream === "string" && !item.stream.startsWith(COMMAND_PREFIX);
}

export function itemToEvent(item: EventItem): StoredEvent {
  return parseStoredEvent({
    streamId: item.stream,
    version: Number(item.version),
    eventId: item.eventId,
    type: item.type,
    schemaVersion: Number(item.schemaVersion),
    occurredAt: item.occurredAt,
    actor: item.actor,
    correlationId: item.correlationId,
    causationId: item.causationId,
    data: JSON.parse(item.data) as unknown,
  });
}

/**
 * The size DynamoDB bills and limits an item by: attribute names plus values, strings in UTF-8,
 * numbers at about one byte per two digits, maps and lists with their per-element overhead.
 */
export function itemSize(value: Record<string, unknown>): number {
  let size = 0;
  for (const [name, v] of Object.entries(value)) if (v !== undefined) size += Buffer.byteLength(name) + valueSize(v);
  return size;
}

function valueSize(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v);
  if (typeof v === "number")
    return (
      Math.ceil(
        String(Math.abs(v))
          .replace(/[.e+-]/g, "")
          .replace(/^0+/, "").length / 2,
      ) + 1
    );
  if (typeof v === "boolean" || v === null) return 1;
  if (Array.isArray(v)) return 3 + v.reduce((s: number, item) => s + 1 + valueSize(item), 0);
  if (typeof v === "object") return 3 + itemSize(v as Record<string, unknown>) + Object.keys(v).length;
  return 0;
}
