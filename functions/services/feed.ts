import { hourOf, inFeed, type FeedEntry, type FeedFilter } from "../../core/index.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { nowOf, type ApiDeps } from "./deps.js";

/**
 * The log as a feed: every event in the order of its position (time, stream, version), read from
 * the feed projection one hour partition after another.
 *
 * A position is known when the event occurs, but the event reaches the feed a moment later (it is
 * appended, then projected from the table's stream), so a reader that went past a position could
 * miss an event projected there afterwards. Readers therefore see the feed only up to FEED_SETTLE_MS
 * ago: by then what occurred has been projected, unless the projector is retrying a failed batch.
 */
export const FEED_SETTLE_MS = 2000;

export type FeedEvent = Omit<FeedEntry, "position"> & { cursor: string };

/** Queries one feed request may make before it answers with what it found and a cursor. */
const FEED_BUDGET = 12;
const FEED_PAGE = 200;
/** Sorts after every position of its instant (stream ids are lower-case ASCII). */
const LAST_OF_INSTANT = "#~";

export function feedEvent({ position, ...entry }: FeedEntry): FeedEvent {
  return { cursor: encodeCursor("events", { after: position }), ...entry };
}

/** The position a reader starts from to see only what happens from now on (settled `settleMs` ago). */
export function feedNow(deps: Pick<ApiDeps, "now">, settleMs = FEED_SETTLE_MS): string {
  return new Date(nowOf(deps).getTime() - settleMs).toISOString() + LAST_OF_INSTANT;
}

/**
 * Events after position `after` (from the start without it), oldest first, up to `limit` that pass
 * the filter. `position` is the last position looked at (pass it on as `after`); `more` says the
 * read stopped at `limit` or at its budget rather than at the end of the settled feed.
 */
export async function readFeed(
  deps: Pick<ApiDeps, "readModels" | "now">,
  query: { after?: string; filter: FeedFilter; limit: number; settleMs?: number },
): Promise<{ items: FeedEvent[]; position?: string; more: boolean }> {
  const feed = deps.readModels.feed;
  const settled = feedNow(deps, query.settleMs);
  let position = query.after;
  const items: FeedEvent[] = [];
  let queries = 0;
  let hoursStart: Record<string, unknown> | undefined;
  do {
    if (++queries > FEED_BUDGET) return { items, ...(position ? { position } : {}), more: true };
    const page = await feed.hours({ ...(position ? { from: hourOf(position) } : {}), to: hourOf(settled) }, hoursStart);
    hoursStart = page.next;
    for (const hour of page.hours) {
      let start: Record<string, unknown> | undefined;
      do {
        if (++queries > FEED_BUDGET) return { items, ...(position ? { position } : {}), more: true };
        const range = {
          ...(position && hourOf(position) === hour ? { from: position } : {}),
          ...(hour === hourOf(settled) ? { to: settled } : {}),
        };
        const entries = await feed.page(hour, range, FEED_PAGE, start);
        start = entries.next;
        for (const entry of entries.entries) {
          // `from` is inclusive; the reader has seen `after` already.
          if (entry.position === position) continue;
          position = entry.position;
          if (!inFeed(entry, query.filter)) continue;
          items.push(feedEvent(entry));
          if (items.length === query.limit) return { items, position, more: true };
        }
      } while (start);
    }
  } while (hoursStart);
  return { items, ...(position ? { position } : {}), more: false };
}

/** A page of the feed for the JSON API: `nextCursor` whenever the read stopped before the settled end. */
export async function listEvents(
  deps: Pick<ApiDeps, "readModels" | "now">,
  query: { after?: string; filter: FeedFilter; limit: number },
): Promise<{ items: FeedEvent[]; nextCursor?: string }> {
  const { items, position, more } = await readFeed(deps, query);
  return { items, ...(more && position ? { nextCursor: encodeCursor("events", { after: position }) } : {}) };
}

/**
 * Follows the feed from position `from`: polls every `pollMs` and yields what arrived (an empty
 * batch when nothing did, so the caller can keep the connection alive), until `signal` aborts or
 * `until` (epoch ms) passes.
 */
export async function* followFeed(
  deps: Pick<ApiDeps, "readModels" | "now">,
  from: string,
  filter: FeedFilter,
  options: { signal: AbortSignal; until: number; pollMs: number },
): AsyncGenerator<FeedEvent[]> {
  let position = from;
  while (!options.signal.aborted && Date.now() < options.until) {
    const page = await readFeed(deps, { after: position, filter, limit: FEED_PAGE });
    if (page.position) position = page.position;
    yield page.items;
    if (!page.more) await sleep(options.pollMs, options.signal);
  }
}

/**
 * Tells a view that re-reads what it shows that something it shows may have changed: yields the
 * events matching `filter` as soon as they are projected (not FEED_SETTLE_MS later, as a feed
 * reader must wait), each once, until `signal` aborts or `until` passes. It looks again at the
 * last FEED_SETTLE_MS of the feed on every poll, so an event projected late is still told.
 */
export async function* followChanges(
  deps: Pick<ApiDeps, "readModels" | "now">,
  from: string,
  filter: FeedFilter,
  options: { signal: AbortSignal; until: number; pollMs: number },
): AsyncGenerator<FeedEvent[]> {
  let settled = from;
  const told = new Map<string, string>(); // cursor → position, for events newer than `settled`
  while (!options.signal.aborted && Date.now() < options.until) {
    const page = await readFeed(deps, { after: settled, filter, limit: FEED_PAGE, settleMs: 0 });
    const fresh = page.items.filter((e) => !told.has(e.cursor));
    for (const e of fresh) told.set(e.cursor, decodeCursor("events", e.cursor)!.after);
    // What is older than the settle time is in the feed for good: no need to look at it again.
    const boundary = feedNow(deps);
    if (boundary > settled) settled = page.more && page.position && page.position < boundary ? page.position : boundary;
    for (const [cursor, position] of told) if (position <= settled) told.delete(cursor);
    yield fresh;
    if (!page.more) await sleep(options.pollMs, options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      done();
    }
  });
}
