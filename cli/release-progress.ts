import type { ChannelState, HistoryEvent, Page, ReleaseSummary, ReleaseView } from "./api-types.js";
import type { ApiClient } from "./client.js";
import { relativeTime } from "./time.js";

/**
 * Where a release stands, for `watch`, `release create --wait` and `describe release`: its
 * summary (each channel's state, from `GET /v1/releases`) and its view (each gate, with when it
 * can change by itself, from `GET /v1/releases/{id}`).
 */

/** When the release was created: its first event. Also tells a release that does not exist (404). */
export async function createdAtOf(client: ApiClient, releaseId: string): Promise<string> {
  const history = await client.get<{ items: HistoryEvent[] }>(`/v1/releases/${releaseId}/events`);
  return history.items[0]?.occurredAt ?? new Date().toISOString();
}

/**
 * The release's summary, found in the list of its service's releases created since it was:
 * newest first, so it is the last of them (the list is read a second early, in case the summary's
 * `createdAt` was taken a moment before its first event's time).
 */
export async function summaryOf(
  client: ApiClient,
  view: Pick<ReleaseView, "releaseId" | "application" | "service">,
  createdAt: string,
): Promise<ReleaseSummary | undefined> {
  const since = new Date(Date.parse(createdAt) - 1000).toISOString();
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const list = await client.get<Page<ReleaseSummary>>("/v1/releases", {
      application: view.application,
      service: view.service,
      since,
      limit: 200,
      cursor,
    });
    const found = list.items.find((r) => r.releaseId === view.releaseId);
    if (found || !list.nextCursor) return found;
    cursor = list.nextCursor;
  }
  return undefined;
}

export type Verdict =
  | { done: true; ok: true; message: string }
  | { done: true; ok: false; reason: string }
  | { done: false; reason: string };

const ENDED: Partial<Record<ChannelState, string>> = {
  failed: "failed in",
  rolledBack: "was rolled back in",
  superseded: "was superseded in",
  abandoned: "was abandoned in",
  bad: "was marked bad in",
};

/**
 * Whether the release has got to `target` (converged there, or converged and since replaced by a
 * newer release), never will (marked bad, abandoned, or failed, rolled back or superseded on the
 * way), or is still on its way — and why.
 */
export function judge(summary: ReleaseSummary, target: string, view?: ReleaseView): Verdict {
  const id = summary.releaseId;
  if (summary.bad) return { done: true, ok: false, reason: `release ${id} was marked bad: ${summary.bad.reason}` };
  const index = summary.channels.findIndex((c) => c.name === target);
  const channel = summary.channels[index];
  if (!channel) return { done: true, ok: false, reason: `release ${id} has no channel "${target}"` };
  if (channel.state === "converged" || channel.state === "replaced")
    return { done: true, ok: true, message: `release ${id} converged in ${target}` };
  if (summary.status === "abandoned") return { done: true, ok: false, reason: `release ${id} was abandoned` };
  for (const c of summary.channels.slice(0, index + 1)) {
    const ended = ENDED[c.state];
    if (!ended) continue;
    const by = view?.channels.find((v) => v.name === c.name)?.supersededBy;
    return {
      done: true,
      ok: false,
      reason: `release ${id} ${ended} ${c.name}${c.state === "superseded" && by ? ` by ${by}` : ""}`,
    };
  }
  const first = summary.channels.slice(0, index + 1).find((c) => c.state !== "converged" && c.state !== "replaced");
  const where = first ?? channel;
  const reasons = waitingReasons(where.name, summary, view);
  return { done: false, reason: `${where.name} ${where.state}${reasons.length ? `: ${reasons.join("; ")}` : ""}` };
}

/**
 * Why a channel waits: each blocked gate's reason with when it can change by itself ("in 25s"),
 * and whatever else the summary says holds it (a paused channel).
 */
export function waitingReasons(
  channel: string,
  summary: ReleaseSummary | undefined,
  view: ReleaseView | undefined,
  options: { countdown?: boolean; now?: number } = {},
): string[] {
  const gates = Object.values(view?.channels.find((c) => c.name === channel)?.preconditions ?? {});
  const blocked = gates.flatMap((g) => (g.state === "blocked" ? [g] : []));
  // A countdown is for lines redrawn as it runs; a line printed once keeps the reason's own times.
  const described = blocked.map((g) =>
    g.until && options.countdown !== false ? `${g.reason} (${relativeTime(g.until, options.now)})` : g.reason,
  );
  // The summary also says what no gate does (a paused channel); the gates' own reasons are there already.
  const others = (summary?.channels.find((c) => c.name === channel)?.waiting ?? []).filter(
    (reason) => !blocked.some((g) => g.reason === reason),
  );
  return [...described, ...others];
}
