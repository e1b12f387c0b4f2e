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
 * as a marker item: a retried command finds it and gets the first attempt's events back. The marker
 * may carry a fingerprint of what the command asked for, so the same id asking for something else
 * is told apart from a retry. Claims are ids an append takes once and for good in the same
 * transaction (a webhook's signature): a second append claiming one fails as a whole.
 *
 * Markers and claims are items of the table at version 0 under a prefix of their own (`command#…`,
 * `claim#…`); stream consumers drop them. They are kept as long as the table (it has no TTL).
 */

export const MAX_ITEM_BYTES = 400 * 1024;
export const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
/** DynamoDB allows 100 items per transaction; one is kept for the command marker, one for the check. */
export const MAX_EVENTS_PER_APPEND = 98;

const COMMAND_PREFIX = "command#";
const CLAIM_PREFIX = "claim#";
const MARKER_PREFIXES = [COMMAND_PREFIX, CLAIM_PREFIX] as const;

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

/**
 * A command id was appended before with another fingerprint: the same id asks for something else,
 * so it is not a retry and nothing was appended. Callers say what that means for their command.
 */
export class CommandReusedError extends Error {
  constructor(readonly commandId: string) {
    super(`command ${commandId} was appended before with different input`);
    this.name = "CommandReusedError";
  }
}

/** An append's claim was taken before (by `holder`, the command id it was taken with, if any): nothing was appended. */
export class ClaimTakenError extends Error {
  constructor(
    readonly claim: string,
    readonly holder: string | undefined,
  ) {
    super(`claim ${claim} was taken before`);
    this.name = "ClaimTakenError";
  }
}

export type AppendOptions = {
  /** Makes the append idempotent: appending a command id again gives the first append's events back. */
  commandId?: string;
  /**
   * A digest of what the command asked for, kept with its id: the same id with another fingerprint
   * is refused with CommandReusedError instead of being taken for a retry. Ids appended without one
   * match any.
   */
  fingerprint?: string;
  /** Ids this append takes for good, in the same transaction: one taken already fails it with ClaimTakenError. */
  claims?: readonly string[];
};

/** Who took a claim: the command id it was taken with (none when it was taken without one). */
export type ClaimHolder = { commandId?: string };

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

type CommandItem = {
  stream: string;
  version: 0;
  targetStream: string;
  fromVersion: number;
  toVersion: number;
  fingerprint?: string;
};

type ClaimItem = { stream: string; version: 0; claimedAt: string; commandId?: string };

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
    for (const prefix of MARKER_PREFIXES)
      if (streamId.startsWith(prefix)) throw new Error(`stream ids may not start with ${prefix}`);
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0)
      throw new Error(`expectedVersion must be a non-negative integer, not ${expectedVersion}`);
    if (events.length === 0) return { streamId, version: expectedVersion, events: [], duplicate: false };
    if (options.fingerprint !== undefined && !options.commandId) throw new Error("a fingerprint needs a command id");
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

    const claims = [...new Set(options.claims ?? [])];
    // The common case, one event on a new stream with no command id, is a single conditional put.
    if (items.length === 1 && expectedVersion === 0 && !options.commandId && claims.length === 0) {
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
        ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}),
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
    const claimsIndex = transactItems.length;
    for (const claim of claims) {
      transactItems.push({
        Put: {
          TableName: this.tableName,
          Item: claimItem(claim, metadata.occurredAt, options.commandId),
          ConditionExpression: notExists,
          ExpressionAttributeNames: names,
        },
      });
    }
    if (transactItems.length > 100)
      throw new Error(`an append writes at most 100 items with its marker and claims, not ${transactItems.length}`);
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: transactItems }));
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const reasons = err.CancellationReasons ?? [];
      const failed = (i: number) => reasons[i]?.Code === "ConditionalCheckFailed";
      // A retry of the same command first: it may have taken the same claims the first time.
      if (options.commandId && failed(markerIndex)) {
        const previous = await this.previousCommand(options.commandId, options.fingerprint);
        if (!previous)
          throw new Error(`command ${options.commandId} was reported as appended but its marker is missing`);
        return previous;
      }
      const taken = claims.findIndex((_, i) => failed(claimsIndex + i));
      if (taken >= 0) {
        const claim = claims[taken]!;
        throw new ClaimTakenError(claim, (await this.claimant(claim))?.commandId);
      }
      // TransactionConflict: another transaction held one of these items at that moment (two copies
      // of one command racing); nothing was written, so it is retried as any lost race is.
      if (reasons.some((r) => r.Code === "ConditionalCheckFailed" || r.Code === "TransactionConflict"))
        throw new ConcurrencyError(streamId, expectedVersion);
      throw err;
    }
    return { streamId, version, events: stored(), duplicate: false };
  }

  /**
   * The events a command appended before (`duplicate: true`), found through its marker; undefined
   * when it has not been appended. With a fingerprint, a marker that kept another one is refused
   * with CommandReusedError.
   */
  async previousCommand(commandId: string, fingerprint?: string): Promise<AppendResult | undefined> {
    const marker = (await this.marker(COMMAND_PREFIX + commandId)) as CommandItem | undefined;
    if (!marker) return undefined;
    if (fingerprint !== undefined && marker.fingerprint !== undefined && marker.fingerprint !== fingerprint)
      throw new CommandReusedError(commandId);
    const events = await this.read(marker.targetStream, marker.fromVersion, marker.toVersion);
    return { streamId: marker.targetStream, version: marker.toVersion, events, duplicate: true };
  }

  /** Who holds a claim, or undefined when nobody has taken it. */
  async claimant(claim: string): Promise<ClaimHolder | undefined> {
    const item = (await this.marker(CLAIM_PREFIX + claim)) as ClaimItem | undefined;
    if (!item) return undefined;
    return typeof item.commandId === "string" ? { commandId: item.commandId } : {};
  }

  /**
   * Takes a claim outside an append, for a command that was appended already. Once only, whoever
   * races: `taken` says whether this call took it, `holder` who holds it now.
   */
  async claim(
    claim: string,
    commandId: string | undefined,
    at: string,
  ): Promise<{ taken: boolean; holder: ClaimHolder }> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: claimItem(claim, at, commandId),
          ConditionExpression: "attribute_not_exists(#s)",
          ExpressionAttributeNames: { "#s": "stream" },
        }),
      );
      return { taken: true, holder: commandId === undefined ? {} : { commandId } };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const holder = await this.claimant(claim);
      if (!holder) throw new Error(`claim ${claim} was reported as taken but is missing`);
      return { taken: false, holder };
    }
  }

  private async marker(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { stream: key, version: 0 }, ConsistentRead: true }),
    );
    return Item;
  }
}

function claimItem(claim: string, claimedAt: string, commandId: string | undefined): ClaimItem {
  return { stream: CLAIM_PREFIX + claim, version: 0, claimedAt, ...(commandId ? { commandId } : {}) };
}

/** True for items of the log that are events, as opposed to command markers and claims (for stream consumers). */
export function isEventItem(item: { stream?: unknown }): boolean {
  const stream = item.stream;
  return typeof stream === "string" && !MARKER_PREFIXES.some((prefix) => stream.startsWith(prefix));
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
