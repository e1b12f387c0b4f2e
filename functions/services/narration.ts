import { narrate } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import type { Logger, LogKeys } from "../adapters/logger.js";

/**
 * Tells the log what was just recorded, one line per event as core's narrate() words it. Hooked
 * to the event store's appends by the wiring, so every use case's facts are told once, by the
 * component that recorded them, in the order they were recorded.
 */
export function narrator(logger: Logger): (events: readonly StoredEvent[]) => void {
  return (events) => {
    for (const e of events) {
      try {
        const { level, message, keys } = narrate(e);
        logger[level](message, keys);
      } catch (err) {
        // Telling must never fail what was already recorded.
        logger.warn(`could not narrate ${e.type} ${e.eventId}`, { error: err });
      }
    }
  };
}

/** The keys of the event a consumer handles, for what it logs while handling it. */
export function eventKeys(e: StoredEvent): LogKeys {
  const releaseId = (e.data as { releaseId?: unknown }).releaseId;
  return {
    eventId: e.eventId,
    event: e.type,
    correlationId: e.correlationId,
    ...(typeof releaseId === "string" ? { releaseId } : {}),
  };
}
