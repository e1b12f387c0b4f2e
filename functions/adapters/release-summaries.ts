import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  GetCommand,
  type BatchGetCommandOutput,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";
import type { Deployment, ReleaseRecord } from "../../core/index.js";

/**
 * Release summaries in the read-model table: under `releases#<application>`, one item per release
 * keyed by its id (ids sort by creation time, so a Query reads newest first). The record is the
 * attribute `record` at the release stream's version `rv`; each channel's deployment is an
 * attribute `d#<channel>` at that channel stream's version. Every write is an UpdateItem of its own
 * attributes conditioned on its own version, so parts from different streams never overwrite each
 * other and no part moves backwards. `release-applications` lists the applications that have any.
 */
export type StoredSummary = { record: ReleaseRecord; deployments: Record<string, Deployment> };

const APPLICATIONS = "release-applications";
const DEPLOYMENT = "d#";

export class ReleaseSummaryTable {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putRecord(record: ReleaseRecord, version: number): Promise<void> {
    await this.conditionally(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `releases#${record.application}`, sk: record.releaseId },
        UpdateExpression: "SET #rec = :rec, #rv = :v",
        ConditionExpression: "attribute_not_exists(#rv) OR #rv <= :v",
        ExpressionAttributeNames: { "#rec": "record", "#rv": "rv" },
        ExpressionAttributeValues: { ":rec": JSON.stringify(record), ":v": version },
      }),
    );
  }

  async putDeployment(
    application: string,
    releaseId: string,
    channel: string,
    version: number,
    deployment: Deployment,
  ): Promise<void> {
    await this.conditionally(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `releases#${application}`, sk: releaseId },
        UpdateExpression: "SET #d = :d",
        ConditionExpression: "attribute_not_exists(#d) OR #d.#v <= :v",
        ExpressionAttributeNames: { "#d": DEPLOYMENT + channel, "#v": "v" },
        ExpressionAttributeValues: { ":d": { deployment, v: version }, ":v": version },
      }),
    );
  }

  async putApplication(application: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { pk: APPLICATIONS, sk: application } }));
  }

  /** The applications with releases: one item each, so bounded by the config. */
  async applications(): Promise<string[]> {
    const out: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": APPLICATIONS },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push(item.sk as string);
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * One page of an application's summaries, newest first: ids below `before` and at or above
   * `from` (either may be left out). `start` continues the page before.
   */
  async page(
    application: string,
    range: { before?: string; from?: string },
    limit: number,
    start?: Record<string, unknown>,
  ): Promise<{ items: (StoredSummary & { releaseId: string })[]; next?: Record<string, unknown> }> {
    const { before, from } = range;
    const condition =
      before !== undefined && from !== undefined
        ? "pk = :pk AND sk BETWEEN :from AND :before"
        : before !== undefined
          ? "pk = :pk AND sk < :before"
          : from !== undefined
            ? "pk = :pk AND sk >= :from"
            : "pk = :pk";
    if (before !== undefined && from !== undefined && from >= before) return { items: [] };
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: condition,
        ExpressionAttributeValues: {
          ":pk": `releases#${application}`,
          ...(before !== undefined ? { ":before": before } : {}),
          ...(from !== undefined ? { ":from": from } : {}),
        },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    );
    const items = (page.Items ?? []).flatMap((item) => {
      // BETWEEN is inclusive; `before` is not.
      if (typeof item.record !== "string" || item.sk === before) return [];
      return [
        {
          releaseId: item.sk as string,
          record: JSON.parse(item.record) as ReleaseRecord,
          deployments: deploymentsOf(item),
        },
      ];
    });
    return { items, ...(page.LastEvaluatedKey ? { next: page.LastEvaluatedKey } : {}) };
  }

  /** The summaries of some releases of one application, by id (releases not projected yet are left out). */
  async summaries(application: string, releaseIds: readonly string[]): Promise<Map<string, StoredSummary>> {
    const out = new Map<string, StoredSummary>();
    const ids = [...new Set(releaseIds)];
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = ids
        .slice(i, i + 100)
        .map((sk) => ({ pk: `releases#${application}`, sk }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        const res: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) {
          if (typeof item.record !== "string") continue;
          out.set(item.sk as string, {
            record: JSON.parse(item.record) as ReleaseRecord,
            deployments: deploymentsOf(item),
          });
        }
        keys = res.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return out;
  }

  /** What the channels' streams said of one release's deployments, by channel (empty before any was projected). */
  async deployments(application: string, releaseId: string): Promise<Record<string, Deployment>> {
    const res = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `releases#${application}`, sk: releaseId } }),
    );
    return res.Item ? deploymentsOf(res.Item) : {};
  }

  private async conditionally(command: UpdateCommand): Promise<void> {
    try {
      await this.db.send(command);
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}

function deploymentsOf(item: Record<string, unknown>): Record<string, Deployment> {
  return Object.fromEntries(
    Object.entries(item)
      .filter(([k]) => k.startsWith(DEPLOYMENT))
      .map(([k, v]) => [k.slice(DEPLOYMENT.length), (v as { deployment: Deployment }).deployment]),
  );
}
