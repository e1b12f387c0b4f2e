import type { StoredEvent } from "../events/index.js";
import { releaseOf } from "./views.js";

/**
 * The event feed's read model: the log as one sequence across streams. DynamoDB's stream orders
 * records per item only, so an event's place in the feed is its position — time, stream, version —
 * which is the same however often and in whatever order the event is projected. Positions are
 * grouped by the hour they fall in, so reading the feed is reading one bounded partition after
 * another.
 */

export type FeedEntry = {
  /** `<occurredAt, UTC with milliseconds>#<streamId>#<version, 10 digits>`: sorts by time, then stream, then version. */
  position: string;
  streamId: string;
  version: number;
  type: string;
  occurredAt: string;
  actor: { kind: string; id: string };
  data: unknown;
  application?: string;
  releaseId?: string;
};

/** A data member larger than this (as JSON) is left out of the feed when the data is larger than FEED_DATA_BYTES. */
const LARGE_MEMBER_BYTES = 1024;
/** Instruction payloads can reach DynamoDB's item limit: the feed carries what happened, not the manifests. */
export const FEED_DATA_BYTES = 16 * 1024;
/** Hashes of credentials are no secret, but a reader of the log has no use for them. */
const CREDENTIAL_MEMBERS = new Set(["keyHash", "tokenHash"]);

export function feedPosition(e: Pick<StoredEvent, "occurredAt" | "streamId" | "version">): string {
  return `${new Date(e.occurredAt).toISOString()}#${e.streamId}#${String(e.version).padStart(10, "0")}`;
}

/** The hour a position falls in (`2026-12-01T22`), which names its partition. */
export function hourOf(position: string): string {
  return position.slice(0, 13);
}

const POSITION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#/;
export function isFeedPosition(value: string): boolean {
  return POSITION.test(value);
}

/** The application an event is about, if any, given what its stream says (a release stream's application). */
export function applicationOf(e: StoredEvent, releaseApplication?: string): string | undefined {
  if (e.streamId.startsWith("channel#")) return e.streamId.slice("channel#".length).split("/")[0];
  if (releaseApplication) return releaseApplication;
  if (e.type === "ConfigApplied")
    return e.data.kind === "application"
      ? e.data.name
      : e.data.kind === "service" && typeof e.data.spec.application === "string"
        ? e.data.spec.application
        : undefined;
  if (e.type === "ConfigDeleted" && e.data.kind === "application") return e.data.name;
  const data = e.data as Record<string, unknown>;
  return typeof data.application === "string" ? data.application : undefined;
}

/** An event's data as the feed carries it: without credential hashes, and without members too large to stream. */
export function feedData(e: StoredEvent): unknown {
  const entries = Object.entries(e.data as Record<string, unknown>).filter(([k]) => !CREDENTIAL_MEMBERS.has(k));
  if (JSON.stringify(Object.fromEntries(entries)).length <= FEED_DATA_BYTES) return Object.fromEntries(entries);
  return Object.fromEntries(
    entries.map(([k, v]) => {
      const bytes = JSON.stringify(v)?.length ?? 0;
      return [k, bytes > LARGE_MEMBER_BYTES ? { omitted: true, bytes } : v];
    }),
  );
}

export function feedEntry(e: StoredEvent, releaseApplication?: string): FeedEntry {
  const application = applicationOf(e, releaseApplication);
  const releaseId = releaseOf(e);
  return {
    position: feedPosition(e),
    streamId: e.streamId,
    version: e.version,
    type: e.type,
    occurredAt: e.occurredAt,
    actor: e.actor,
    data: feedData(e),
    ...(application ? { application } : {}),
    ...(releaseId ? { releaseId } : {}),
  };
}

export type FeedFilter = { application?: string; releaseId?: string; types?: readonly string[] };

/** Whether an entry is about a release: the one it names, or the one a rollback rolled back from. */
function aboutRelease(entry: FeedEntry, releaseId: string): boolean {
  if (entry.releaseId === releaseId) return true;
  return entry.type === "ReleaseRolledBack" && (entry.data as { fromReleaseId?: unknown }).fromReleaseId === releaseId;
}

export function inFeed(entry: FeedEntry, filter: FeedFilter): boolean {
  return (
    (filter.application === undefined || entry.application === filter.application) &&
    (filter.releaseId === undefined || aboutRelease(entry, filter.releaseId)) &&
    (filter.types === undefined || filter.types.includes(entry.type))
  );
}
