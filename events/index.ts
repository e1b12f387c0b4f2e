import { currentSchemaVersion, dataSchema, isEventType, type DomainEvent, type EventType } from "./catalog.js";
import { RawEvent } from "./envelope.js";
import { UnknownSchemaVersionError, upcast } from "./upcasters.js";

export * from "./catalog.js";
export * from "./envelope.js";
export { upcasters, UnknownSchemaVersionError, type Upcaster } from "./upcasters.js";

/** A stored event: the envelope plus typed data, always in the current schema version. */
export type StoredEvent<E extends DomainEvent = DomainEvent> = E & Omit<RawEvent, "type" | "data">;

/**
 * Reads one stored event into the current catalog: unknown types and future schema versions are
 * errors (a reader older than the writer must not guess), older versions are upcast.
 */
export function parseStoredEvent(raw: unknown): StoredEvent {
  const envelope = RawEvent.parse(raw);
  const { type, schemaVersion } = envelope;
  if (!isEventType(type)) throw new UnknownEventTypeError(type);
  const target = currentSchemaVersion(type);
  if (schemaVersion > target) throw new UnknownSchemaVersionError(type, schemaVersion);
  const data = dataSchema(type).parse(upcast(type, schemaVersion, envelope.data, target));
  return { ...envelope, type, schemaVersion: target, data } as StoredEvent;
}

/** Checks an event's data before it is written, applying the schema's defaults. */
export function validateEvent<E extends DomainEvent>(event: { type: E["type"]; data: unknown }): E {
  const type: EventType = event.type;
  return { type, data: dataSchema(type).parse(event.data) } as E;
}

export class UnknownEventTypeError extends Error {
  constructor(readonly eventType: string) {
    super(`unknown event type ${eventType}`);
    this.name = "UnknownEventTypeError";
  }
}
