import {
  deploymentChanges,
  feedEntry,
  releaseRecord,
  type ChannelState,
  type Deployment,
  type FeedEntry,
  type ReleaseRecord,
} from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import type { ReadModels } from "../adapters/read-models.js";
import type { ReleaseAt } from "./stream-states.js";

/**
 * What one projected batch adds to the read API's models — release summaries and the event feed —
 * gathered while the batch is walked and written at its end: each release's record once, at the
 * batch's last event of its stream, each deployment once, at its last change, and the feed in
 * batches of 25. Every write is keyed and versioned by its event, so redelivery changes nothing.
 */
export class ReadApiBatch {
  private readonly records = new Map<string, { record: ReleaseRecord; version: number }>();
  private readonly deployments = new Map<
    string,
    { application: string; releaseId: string; channel: string; version: number; deployment: Deployment }
  >();
  private readonly applications = new Set<string>();
  private readonly feed: FeedEntry[] = [];

  /** An event of a release's stream, with the release as of it. */
  release(e: StoredEvent, at: ReleaseAt): void {
    const record = releaseRecord(at.release, at.createdAt ?? e.occurredAt);
    if (record) {
      this.records.set(record.releaseId, { record, version: e.version });
      if (e.type === "ReleaseCreated") this.applications.add(record.application);
    }
    this.feed.push(feedEntry(e, record?.application));
  }

  /** An event of a channel's stream, with the channel as it was before it. */
  channel(e: StoredEvent, application: string, channel: string, before: ChannelState): void {
    for (const { releaseId, deployment } of deploymentChanges(before, e))
      this.deployments.set(`${releaseId}/${channel}`, {
        application,
        releaseId,
        channel,
        version: e.version,
        deployment,
      });
    this.feed.push(feedEntry(e));
  }

  /** An event of any other stream. */
  other(e: StoredEvent): void {
    this.feed.push(feedEntry(e));
  }

  /** The release summaries of the batch. */
  async writeSummaries(readModels: ReadModels): Promise<void> {
    const { releases } = readModels;
    await Promise.all([
      ...[...this.records.values()].map(({ record, version }) => releases.putRecord(record, version)),
      ...[...this.deployments.values()].map((d) =>
        releases.putDeployment(d.application, d.releaseId, d.channel, d.version, d.deployment),
      ),
      ...[...this.applications].map((a) => releases.putApplication(a)),
    ]);
  }

  /** The batch's events in the feed: written after every other read model of the batch (see projectAll). */
  async writeFeed(readModels: ReadModels): Promise<void> {
    await readModels.feed.put(this.feed);
  }
}
