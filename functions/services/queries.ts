import {
  channelDecider,
  channelView,
  configDecider,
  dispatchOf,
  fold,
  getConfig,
  historyEntry,
  listConfigs,
  matchesRelease,
  notFound,
  recordedBy,
  releaseDecider,
  releaseSummary,
  streams,
  waitsIn,
  type ChannelHistoryEntry,
  type ChannelState,
  type ReleaseFilter,
  type ReleaseSummary,
} from "../../core/index.js";
import type { StoredSummary } from "../adapters/release-summaries.js";
import type { ApplicationView } from "./channels.js";
import { readState } from "./commands.js";
import { readConfig } from "./config.js";
import { encodeCursor, type Cursor } from "./cursor.js";
import type { ApiDeps } from "./deps.js";
import { releaseIdsFrom } from "./releases.js";

/**
 * The read API's queries. Each reads a projection or a bounded Query — a page at a time, within a
 * budget of what one request may read — and never scans a table; a list that stops at its budget
 * says where to go on.
 */

/** Summaries one release-list request may look at before it answers with what it found and a cursor. */
const RELEASES_BUDGET = 1000;

/**
 * Releases newest first, across the application's partition or — without one — merging every
 * application's partition by id (ids sort by creation time), so one cursor, the last id looked
 * at, serves both. Filters are applied to each summary read.
 */
export async function listReleases(
  deps: ApiDeps,
  query: { application?: string; filter: ReleaseFilter; limit: number; cursor?: Cursor<"releases"> },
): Promise<{ items: ReleaseSummary[]; nextCursor?: string }> {
  const table = deps.readModels.releases;
  const applications = query.application ? [query.application] : await table.applications();
  const range = {
    ...(query.cursor ? { before: query.cursor.before } : {}),
    ...(query.filter.since ? { from: releaseIdsFrom(new Date(query.filter.since)) } : {}),
  };
  const pageSize = Math.min(Math.max(query.limit, 25), applications.length > 1 ? 50 : 200);
  let reads = 0;
  const readBudget = applications.length + 20;
  const partitions = applications.map((application) => ({
    application,
    items: [] as (StoredSummary & { releaseId: string })[],
    next: undefined as Record<string, unknown> | undefined,
    done: false,
  }));
  /** Reads the partition's next page if its items ran out; false when the budget stops it. */
  const fill = async (p: (typeof partitions)[number]): Promise<boolean> => {
    while (p.items.length === 0 && !p.done) {
      if (reads >= readBudget) return false;
      reads++;
      const page = await table.page(p.application, range, pageSize, p.next);
      p.items = page.items;
      p.next = page.next;
      p.done = page.next === undefined;
    }
    return true;
  };
  await Promise.all(partitions.map(fill));

  const found: { stored: StoredSummary; summary: ReleaseSummary }[] = [];
  let last: string | undefined;
  let examined = 0;
  let exhausted = false;
  for (;;) {
    const head = partitions.reduce<(typeof partitions)[number] | undefined>(
      (best, p) => (p.items[0] && (!best || p.items[0].releaseId > best.items[0]!.releaseId) ? p : best),
      undefined,
    );
    if (!head) {
      exhausted = true;
      break;
    }
    const stored = head.items.shift()!;
    last = stored.releaseId;
    examined++;
    const summary = releaseSummary(stored.record, stored.deployments);
    if (matchesRelease(summary, query.filter)) found.push({ stored, summary });
    if (found.length === query.limit || examined >= RELEASES_BUDGET || !(await fill(head))) break;
  }
  if (!exhausted && partitions.every((p) => p.items.length === 0 && p.done)) exhausted = true;

  const items = await withWaitingReasons(deps, found);
  return { items, ...(!exhausted && last ? { nextCursor: encodeCursor("releases", { before: last }) } : {}) };
}

/** The summaries again, where a release waits, with the reasons its promotion recorded there. */
async function withWaitingReasons(
  deps: ApiDeps,
  found: { stored: StoredSummary; summary: ReleaseSummary }[],
): Promise<ReleaseSummary[]> {
  const keys = found.flatMap(({ summary }) =>
    summary.channels
      .filter((c) => c.state === "waiting")
      .map((c) => ({ application: summary.application, channel: c.name, releaseId: summary.releaseId })),
  );
  if (keys.length === 0) return found.map((f) => f.summary);
  const reasons = await deps.readModels.waitingReasons(keys);
  return found.map(({ stored, summary }) => {
    const waiting = Object.fromEntries(
      summary.channels.flatMap((c) => {
        const r = reasons.get(`${c.name}/${summary.releaseId}`);
        return r ? [[c.name, r]] : [];
      }),
    );
    return releaseSummary(stored.record, stored.deployments, waiting);
  });
}

export type ApplicationListing = { name: string; version: number; channels: string[]; services: string[] };

/** Every application in the config, with its channels in order and its services. */
export async function listApplications(deps: ApiDeps): Promise<ApplicationListing[]> {
  const config = await readConfig(deps);
  const services = listConfigs(config, "service");
  return listConfigs(config, "application")
    .map((a) => ({
      name: a.name,
      version: a.version,
      channels: a.spec.releaseChannels.map((c) => c.name),
      services: services
        .filter((s) => s.spec.application === a.name)
        .map((s) => s.name)
        .sort(),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Release streams the waiting lists of an application view at an instant may read. */
const WAITING_AT_BUDGET = 25;

/**
 * An application's view as it was at `at`, rebuilt from the log: the config and each channel's
 * stream as they stood then, rendered by the same view code the projector runs. What waited then
 * is judged from the newest releases created by then (at most WAITING_AT_BUDGET of them): in each
 * channel, per service, the newest release that had entered it.
 */
export async function applicationViewAt(deps: ApiDeps, name: string, at: Date): Promise<ApplicationView> {
  const config = fold(configDecider, recordedBy(await deps.store.read(streams.config()), at));
  const application = getConfig(config, "application", name);
  if (!application)
    throw notFound("application.not_found", `application "${name}" did not exist at ${at.toISOString()}`);
  const channels = application.spec.releaseChannels.map((c) => c.name);
  const states = new Map(
    await Promise.all(
      channels.map(
        async (channel) =>
          [
            channel,
            fold(channelDecider, recordedBy(await deps.store.read(streams.channel(name, channel)), at)),
          ] as const,
      ),
    ),
  );
  const services = listConfigs(config, "service").filter((s) => s.spec.application === name);
  const waiting = await waitingAt(deps, name, states, services.length, at);
  return {
    application: name,
    version: application.version,
    channels: channels.map((channel) => {
      const view = channelView(name, channel, states.get(channel)!);
      return {
        name: channel,
        ...(view.paused ? { paused: view.paused } : {}),
        services: view.services,
        waiting: waiting.get(channel) ?? [],
      };
    }),
  };
}

async function waitingAt(
  deps: ApiDeps,
  application: string,
  states: ReadonlyMap<string, ChannelState>,
  serviceCount: number,
  at: Date,
): Promise<Map<string, { releaseId: string; reasons: string[] }[]>> {
  const out = new Map<string, { releaseId: string; reasons: string[] }[]>();
  // Per channel and service, the newest release that had entered decides: older ones were superseded or ran.
  const decided = new Set<string>();
  const range = { before: releaseIdsFrom(new Date(at.getTime() + 1)) };
  let read = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.readModels.releases.page(application, range, 5, start);
    start = page.next;
    const releases = await Promise.all(
      page.items.map(async (i) =>
        fold(releaseDecider, recordedBy(await deps.store.read(streams.release(i.releaseId)), at)),
      ),
    );
    for (const release of releases) {
      read++;
      if (release.status === "none") continue;
      for (const [channel, state] of states) {
        const key = `${channel}/${release.service}`;
        if (decided.has(key) || !release.gates[channel]?.started) continue;
        decided.add(key);
        const reasons = waitsIn(release, channel, state);
        if (reasons) out.set(channel, [...(out.get(channel) ?? []), { releaseId: release.releaseId, reasons }]);
      }
    }
    if (decided.size >= states.size * serviceCount || read >= WAITING_AT_BUDGET) break;
  } while (start);
  for (const list of out.values()) list.sort((a, b) => (a.releaseId < b.releaseId ? -1 : 1));
  return out;
}

/** Events one history request may look at before it answers with what it found and a cursor. */
const HISTORY_BUDGET = 1000;
const HISTORY_PAGE = 100;

/** A channel's history, newest first, read back from its stream a page at a time. */
export async function channelHistory(
  deps: ApiDeps,
  application: string,
  channel: string,
  query: { limit: number; cursor?: Cursor<"history"> },
): Promise<{ items: ChannelHistoryEntry[]; nextCursor?: string }> {
  const app = getConfig(await readConfig(deps), "application", application);
  if (!app) throw notFound("application.not_found", `application "${application}" does not exist`);
  if (!app.spec.releaseChannels.some((c) => c.name === channel))
    throw notFound("channel.not_found", `release channel "${channel}" does not exist in application "${application}"`);
  const stream = streams.channel(application, channel);
  let before = query.cursor?.before;
  let newer = query.cursor?.newer;
  const items: ChannelHistoryEntry[] = [];
  let examined = 0;
  let more = true;
  reading: while (examined < HISTORY_BUDGET) {
    const page = await deps.store.readBackwards(stream, before, HISTORY_PAGE);
    for (const [i, e] of page.events.entries()) {
      examined++;
      const entry = historyEntry(e, newer);
      newer = dispatchOf(e);
      before = e.version;
      if (entry) items.push(entry);
      if (items.length === query.limit) {
        more = page.more || i < page.events.length - 1;
        break reading;
      }
    }
    if (!page.more) {
      more = false;
      break;
    }
  }
  await withApprovers(deps, channel, items);
  const cursor = more && before !== undefined ? { before, ...(newer ? { newer } : {}) } : undefined;
  return { items, ...(cursor ? { nextCursor: encodeCursor("history", cursor) } : {}) };
}

/** Adds to each dispatch who approved the release for the channel. */
async function withApprovers(deps: ApiDeps, channel: string, items: ChannelHistoryEntry[]): Promise<void> {
  const dispatched = [...new Set(items.flatMap((i) => (i.kind === "dispatched" && i.releaseId ? [i.releaseId] : [])))];
  const approvers = new Map<string, string[]>(
    await Promise.all(
      dispatched.map(async (releaseId): Promise<[string, string[]]> => {
        const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
        const approvals = release.status === "none" ? {} : (release.gates[channel]?.approvals ?? {});
        return [releaseId, [...new Set(Object.values(approvals).flatMap((a) => a.grantedBy))]];
      }),
    ),
  );
  for (const item of items) {
    const by = item.kind === "dispatched" && item.releaseId ? approvers.get(item.releaseId) : undefined;
    if (by?.length) item.approvedBy = by;
  }
}
