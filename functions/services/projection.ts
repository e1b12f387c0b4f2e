import {
  channelDecider,
  channelView,
  deliveryProgress,
  linkedAfter,
  releasesOf,
  type ChannelState,
  type RuntimeProgress,
} from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import type { EventStore } from "../adapters/event-store.js";
import type { Logger } from "../adapters/logger.js";
import type { ReadModels } from "../adapters/read-models.js";
import { ReadApiBatch } from "./read-projection.js";
import { ReleaseStates, StatesAt } from "./stream-states.js";

/**
 * Keeping the read models in step with the log. Each channel view is recomputed from its stream up
 * to the event's version and written only if no later version is stored, and each timeline line is
 * keyed by its event — so redelivery changes nothing and replaying the log from the start rebuilds
 * every view.
 */
export type ProjectorDeps = { store: EventStore; readModels: ReadModels; logger?: Logger };

/**
 * Projects a batch at once: each channel view is written once, at the batch's last event of its
 * stream (the views in between would be overwritten at once), and the timeline lines go out in
 * batches of 25. Redelivering the batch writes the same items again.
 */
export async function projectAll(
  deps: ProjectorDeps,
  events: StoredEvent[],
  cache = new ChannelStates(),
  releases = new ReleaseStates(),
): Promise<void> {
  const views = new Map<string, { pk: string; sk: string; version: number; view: object }>();
  const progress = new Map<string, { application: string; version: number; progress: RuntimeProgress }>();
  const lines: Parameters<ReadModels["putTimelines"]>[0] = [];
  // The newest release of each service: what a config change makes its config release from.
  const newest = new Map<string, { application: string; service: string; releaseId: string }>();
  const readApi = new ReadApiBatch();
  for (const e of events) {
    if (e.type === "ReleaseCreated") {
      const { application, service, releaseId } = e.data;
      const known = newest.get(`${application}/${service}`);
      if (!known || known.releaseId < releaseId)
        newest.set(`${application}/${service}`, { application, service, releaseId });
    }
    const [kind, id = ""] = e.streamId.split("#");
    if (kind === "channel") {
      const [application = "", channel = ""] = id.split("/");
      const { before, after: state } = await cache.around(deps.store, e);
      readApi.channel(e, application, channel, before);
      views.set(e.streamId, {
        pk: `app#${application}`,
        sk: `channel#${channel}`,
        version: e.version,
        view: channelView(application, channel, state),
      });
    } else if (kind === "delivery") {
      const p = deliveryProgress(e);
      if (p)
        progress.set(`${p.progress.channel}/${p.progress.service}/${p.progress.runtime}`, { ...p, version: e.version });
      readApi.other(e);
    } else if (kind === "release") readApi.release(e, await releases.at(deps.store, e));
    else {
      const linked = kind === "runtime" ? linkedAfter(e) : undefined;
      if (linked !== undefined)
        views.set(e.streamId, { pk: e.streamId, sk: "linked", version: e.version, view: { linked } });
      readApi.other(e);
    }
    for (const releaseId of releasesOf(e))
      lines.push({
        releaseId,
        entry: {
          streamId: e.streamId,
          version: e.version,
          type: e.type,
          occurredAt: e.occurredAt,
          actor: e.actor,
          data: e.data,
        },
      });
  }
  await Promise.all([
    ...[...views.values()].map((v) => deps.readModels.putView(v.pk, v.sk, v.version, v.view)),
    ...[...progress.values()].map((p) => deps.readModels.putProgress(p.application, p.version, p.progress)),
    deps.readModels.putTimelines(lines),
    readApi.writeSummaries(deps.readModels),
    ...[...newest.values()].map((n) => deps.readModels.putNewestRelease(n.application, n.service, n.releaseId)),
  ]);
  // The feed last: whoever the feed tells of an event (the dashboard's live pages refresh on it)
  // then finds every other read model of its batch already written.
  await readApi.writeFeed(deps.readModels);
}

/** The channel states this container last projected, each as of the event projected (see StatesAt). */
export class ChannelStates extends StatesAt<ChannelState> {
  constructor(max = 1000) {
    super(channelDecider, max);
  }
}
