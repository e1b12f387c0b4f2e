import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { StoredEvent } from "../../events/index.js";
import { isEventItem, itemToEvent } from "./event-store.js";
import type { StreamBatchResponse, StreamEvent } from "./lambda-events.js";
import { silentLogger, type Logger } from "./logger.js";

type StreamRecord = StreamEvent["Records"][number];

/** The event a stream record carries, parsed and upcast, or undefined for items of the log that are not events. */
export function eventOf(record: StreamRecord): StoredEvent | undefined {
  const image = record.dynamodb?.NewImage;
  if (!image) return undefined;
  const item = unmarshall(image as Record<string, AttributeValue>);
  if (!isEventItem(item)) return undefined;
  return itemToEvent(item as Parameters<typeof itemToEvent>[0]);
}

/**
 * Handles a stream batch in order. On the first failure it stops and reports that record and
 * everything after it as failed, so the event source retries from there and per-item order holds.
 *
 * With `together`, a run of consecutive records it accepts is handed to `handleTogether` at once
 * (say, to fan out to agents concurrently); a failure there retries the run from its start.
 */
export async function inOrder(
  event: StreamEvent,
  handle: (e: StoredEvent) => Promise<void>,
  logger: Logger = silentLogger,
  group?: { together: (e: StoredEvent) => boolean; handleTogether: (events: StoredEvent[]) => Promise<void> },
): Promise<StreamBatchResponse> {
  const events = event.Records.map((r) => eventOf(r));
  for (let i = 0; i < events.length;) {
    let next = i + 1;
    try {
      const e = events[i];
      if (e && group?.together(e)) {
        while (next < events.length && events[next] && group.together(events[next]!)) next++;
        await group.handleTogether(events.slice(i, next) as StoredEvent[]);
      } else if (e) await handle(e);
    } catch (err) {
      const record = event.Records[i]!;
      const e = events[i];
      // The event source retries from here, and after its last retry sends the batch to the failure queue.
      logger.error(
        `stream record ${record.dynamodb?.SequenceNumber ?? i} failed; it and the ${event.Records.length - i - 1} after it are retried`,
        {
          error: err,
          ...(e ? { eventId: e.eventId, event: e.type, correlationId: e.correlationId } : {}),
        },
      );
      return {
        batchItemFailures: event.Records.slice(i).map((r) => ({ itemIdentifier: r.dynamodb?.SequenceNumber ?? "" })),
      };
    }
    i = next;
  }
  return { batchItemFailures: [] };
}
