import * as z from "zod";

/** Who caused an event: a CI system, a person, an agent in a cluster, or Slipway itself. */
export const Actor = z.object({
  kind: z.enum(["ci", "user", "agent", "system"]),
  id: z.string().min(1).max(256),
});
export type Actor = z.infer<typeof Actor>;

/**
 * Everything an event carries besides its data. `version` is the event's position in its stream,
 * starting at 1; `schemaVersion` is the version of the data's shape, used to upcast old events.
 */
export const EnvelopeFields = {
  streamId: z.string().min(1),
  version: z.number().int().positive(),
  eventId: z.string().min(1),
  type: z.string().min(1),
  schemaVersion: z.number().int().positive(),
  occurredAt: z.iso.datetime(),
  actor: Actor,
  correlationId: z.string().min(1),
  causationId: z.string().min(1),
};

/** An event as read from storage, before its data is checked against the catalog. */
export const RawEvent = z.object({ ...EnvelopeFields, data: z.unknown() });
export type RawEvent = z.infer<typeof RawEvent>;

/** What a writer supplies per event; the store assigns stream, version and id. */
export type Metadata = {
  occurredAt: string;
  actor: Actor;
  correlationId: string;
  causationId: string;
};
