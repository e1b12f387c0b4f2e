import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { streams } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore, eventTableDefinition } from "../../functions/adapters/event-store.js";
import { ReadModels, readModelTableDefinition } from "../../functions/adapters/read-models.js";
import type { StreamEvent, StreamImage } from "../../functions/adapters/lambda-events.js";
import { createLogger } from "../../functions/adapters/logger.js";
import { createProjector } from "../../functions/projector.js";
import { ensureTable, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { pool } from "../../functions/services/pool.js";
import { figure, median, round } from "./figures.js";
import { kindsNow, kindsSince } from "./meter.js";

/**
 * Replays a log of `total` events into fresh read models through the projector, as a stream mapping
 * started at TRIM_HORIZON would (each stream in order, batches of 100), against reading the same
 * events with raw Query, `repetitions` times. A fresh DynamoDB Local, so nothing else competes.
 */
export async function rebuild(total: number, repetitions: number, log: (line: string) => void) {
  const dynamo = await startDynamoDbLocal({});
  const aws = { endpoint: dynamo.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const admin = new DynamoDBClient(aws);
  const db = documentClient(aws);
  const tables = { events: `rebuild-events-${randomUUID().slice(0, 8)}` };
  await ensureTable(admin, eventTableDefinition(tables.events));
  const store = new EventStore(db, tables.events);
  const meta = {
    occurredAt: "2026-11-23T10:00:00.000Z",
    actor: { kind: "system" as const, id: "bench" },
    correlationId: "bench",
    causationId: "bench",
  };

  // A realistic log: releases of 20 applications through staging and production, 11 events each.
  const versions = new Map<string, number>();
  const append = async (stream: string, events: DomainEvent[]) => {
    const v = versions.get(stream) ?? 0;
    versions.set(stream, v + events.length);
    await store.append(stream, v, events, meta);
  };
  const releases = Math.ceil(total / 11);
  const t0 = performance.now();
  // Applications write in parallel; each application's releases in order. A channel's events go in
  // appends of 22 releases (88 events), so writing the log does not take longer than replaying it.
  await pool(20, 20, async (a) => {
    const application = `app${a}`;
    const pending: Record<string, DomainEvent[]> = { staging: [], production: [] };
    const flush = async (min: number) => {
      for (const channel of ["staging", "production"])
        if (pending[channel]!.length >= min)
          await append(streams.channel(application, channel), pending[channel]!.splice(0));
    };
    for (let r = a; r < releases; r += 20) {
      const releaseId = `r${String(r).padStart(7, "0")}`;
      await append(streams.release(releaseId), [
        {
          type: "ReleaseCreated",
          data: {
            releaseId,
            application,
            service: "api",
            params: { image: `registry.example.com/api:${r}` },
            source: {},
            channels: ["staging", "production"],
            configVersions: { application: 1, service: 1 },
          },
        },
        { type: "PromotionStarted", data: { releaseId, channel: "staging" } },
        { type: "PromotionStarted", data: { releaseId, channel: "production" } },
      ]);
      for (const channel of ["staging", "production"]) {
        const instructionId = `${application}.${channel}.${releaseId}.k8s-${channel}`;
        const runtime = `k8s-${channel}`;
        pending[channel]!.push(
          {
            type: "InstructionDispatched",
            data: {
              application,
              channel,
              service: "api",
              releaseId,
              runtime,
              instructionId,
              payload: { kind: "kubernetes", manifests: [`image: registry.example.com/api:${r}`] },
              rollback: false,
            },
          },
          { type: "InstructionAcknowledged", data: { instructionId, runtime, connectionId: "c1", leaseGeneration: 1 } },
          { type: "ApplySucceeded", data: { instructionId, runtime, releaseId } },
          {
            type: "ChannelConverged",
            data: { application, channel, service: "api", releaseId, convergedAt: meta.occurredAt },
          },
        );
      }
      await flush(88);
    }
    await flush(1);
  });
  const written = [...versions.keys()];
  const events = [...versions.values()].reduce((a, b) => a + b, 0);
  log(`rebuild: wrote ${events} events in ${written.length} streams (${Math.round(performance.now() - t0)} ms)`);

  const query = async function* (stream: string) {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await db.send(
        new QueryCommand({
          TableName: tables.events,
          KeyConditionExpression: "#s = :s",
          ExpressionAttributeNames: { "#s": "stream" },
          ExpressionAttributeValues: { ":s": stream },
          ExclusiveStartKey,
        }),
      );
      yield page.Items ?? [];
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  };

  // Each repetition: raw, every event of every stream read with Query, 16 streams at a time; then
  // the rebuild, the same reads with each stream's records handed to the projector in order, in
  // batches of 100, into read models of its own.
  const logger = createLogger({ level: "warn", format: "human", write: log });
  const reps = [];
  for (let r = 0; r < repetitions; r++) {
    let t = performance.now();
    let read = 0;
    await pool(written.length, 16, async (i) => {
      for await (const items of query(written[i]!)) read += items.length;
    });
    const rawSeconds = (performance.now() - t) / 1000;

    const views = `rebuild-views-${randomUUID().slice(0, 8)}`;
    await ensureTable(admin, readModelTableDefinition(views));
    const project = createProjector({ store, readModels: new ReadModels(db, views), logger });
    const kinds = kindsNow();
    t = performance.now();
    let projected = 0;
    await pool(written.length, 16, async (i) => {
      for await (const items of query(written[i]!)) {
        for (let k = 0; k < items.length; k += 100) {
          const batch: StreamEvent = {
            Records: items.slice(k, k + 100).map((item, j) => ({
              dynamodb: { NewImage: marshall(item) as StreamImage, SequenceNumber: String(projected + j) },
            })),
          };
          const result = await project(batch);
          if (result.batchItemFailures.length)
            throw new Error(`rebuild: ${result.batchItemFailures.length} records failed`);
          projected += batch.Records.length;
        }
      }
    });
    const rebuildSeconds = (performance.now() - t) / 1000;
    await admin.send(new DeleteTableCommand({ TableName: views }));
    const eventsPerSecond = Math.round(projected / rebuildSeconds);
    const rawQueryEventsPerSecond = Math.round(read / rawSeconds);
    reps.push({
      rawQueryEventsPerSecond,
      eventsPerSecond,
      rebuildSeconds: round(rebuildSeconds, 1),
      ratio: round(eventsPerSecond / rawQueryEventsPerSecond, 3),
      /** The projector's DynamoDB requests (and the Queries handing it the log), by kind. */
      requests: kindsSince(kinds),
    });
    log(`rebuild ${r + 1}/${repetitions}: ${eventsPerSecond} events/s against ${rawQueryEventsPerSecond} by Query`);
  }
  await admin.send(new DeleteTableCommand({ TableName: tables.events }));
  admin.destroy();
  await dynamo.stop();
  return {
    figures: [
      figure("rebuild_ratio", median(reps.map((x) => x.ratio)), {
        measured: `${median(reps.map((x) => x.eventsPerSecond))} events/s projected (${events} events, ${written.length} streams)`,
        floor: `${median(reps.map((x) => x.rawQueryEventsPerSecond))} events/s by Query`,
        runs: `median of ${reps.length} repetitions`,
      }),
    ],
    details: { events, streams: written.length, repetitions: reps },
  };
}
