import { QueryCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { hourOf, type FeedEntry } from "../../core/index.js";
import { putInBatches } from "./batch-write.js";

/**
 * The event feed in the read-model table: each event under `feed#<hour>` keyed by its position,
 * and every hour that has events under `feed-hours`, so a reader goes from one hour with events to
 * the next without visiting the empty ones in between.
 */

const HOURS = "feed-hours";

type FeedItem = Omit<FeedEntry, "position" | "data"> & { pk: string; sk: string; data: string };

export class EventFeedTable {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writing an entry twice is writing it once: its key is its position. */
  async put(entries: readonly FeedEntry[]): Promise<void> {
    const hours = [...new Set(entries.map((e) => hourOf(e.position)))];
    await putInBatches(this.db, this.tableName, [
      ...hours.map((hour) => ({ pk: HOURS, sk: hour })),
      ...entries.map(({ position, data, ...rest }) => ({
        pk: `feed#${hourOf(position)}`,
        sk: position,
        ...rest,
        // As JSON: event data may hold what DynamoDB maps cannot (empty keys, say).
        data: JSON.stringify(data),
      })),
    ]);
  }

  /** Hours with events from `from` through `to` (inclusive, either open), oldest first. */
  async hours(
    range: { from?: string; to: string },
    start?: Record<string, unknown>,
  ): Promise<{ hours: string[]; next?: Record<string, unknown> }> {
    if (range.from !== undefined && range.from > range.to) return { hours: [] };
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: range.from ? "pk = :pk AND sk BETWEEN :from AND :to" : "pk = :pk AND sk <= :to",
        ExpressionAttributeValues: { ":pk": HOURS, ":to": range.to, ...(range.from ? { ":from": range.from } : {}) },
        Limit: 100,
        ExclusiveStartKey: start,
      }),
    );
    return {
      hours: (page.Items ?? []).map((i) => i.sk as string),
      ...(page.LastEvaluatedKey ? { next: page.LastEvaluatedKey } : {}),
    };
  }

  /** One page of an hour's entries, oldest first, at positions from `from` through `to` (inclusive, either open). */
  async page(
    hour: string,
    range: { from?: string; to?: string },
    limit: number,
    start?: Record<string, unknown>,
  ): Promise<{ entries: FeedEntry[]; next?: Record<string, unknown> }> {
    const { from, to } = range;
    if (from !== undefined && to !== undefined && from > to) return { entries: [] };
    const condition =
      from !== undefined && to !== undefined
        ? "pk = :pk AND sk BETWEEN :from AND :to"
        : from !== undefined
          ? "pk = :pk AND sk >= :from"
          : to !== undefined
            ? "pk = :pk AND sk <= :to"
            : "pk = :pk";
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: condition,
        ExpressionAttributeValues: {
          ":pk": `feed#${hour}`,
          ...(from !== undefined ? { ":from": from } : {}),
          ...(to !== undefined ? { ":to": to } : {}),
        },
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    );
    const entries = (page.Items ?? []).map((item): FeedEntry => {
      const { sk, streamId, version, type, occurredAt, actor, data, application, releaseId } = item as FeedItem;
      return {
        position: sk,
        streamId,
        version: Number(version),
        type,
        occurredAt,
        actor,
        data: JSON.parse(data) as unknown,
        ...(application ? { application } : {}),
        ...(releaseId ? { releaseId } : {}),
      };
    });
    return { entries, ...(page.LastEvaluatedKey ? { next: page.LastEvaluatedKey } : {}) };
  }
}
