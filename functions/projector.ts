import { channelDecider, channelView, fold, releaseOf } from "../core/index.js";
import type { StoredEvent } from "../events/index.js";
import { backendFromResources } from "./adapters/backend.js";
import type { EventStore } from "./adapters/event-store.js";
import type { ReadModels } from "./adapters/read-models.js";
import { inOrder, type StreamEvent } from "./adapters/stream-records.js";

/**
 * The projector: keeps the read models in step with the log. Each channel view is recomputed from
 * its stream up to the event's version and written only if no later version is stored, and each
 * timeline line is keyed by its event — so redelivery changes nothing and replaying the log from
 * the start rebuilds every view.
 */
export type ProjectorDeps = { store: EventStore; readModels: ReadModels; log?: (line: string) => void };

export function createProjector(deps: ProjectorDeps) {
  return (event: StreamEvent) => inOrder(event, (e) => project(deps, e), deps.log);
}

export async function project(deps: ProjectorDeps, e: StoredEvent): Promise<void> {
  const [kind, id = ""] = e.streamId.split("#");
  if (kind === "channel") {
    const [application = "", channel = ""] = id.split("/");
    const state = fold(channelDecider, (await deps.store.read(e.streamId, 1, e.version)) as never);
    await deps.readModels.putView(`app#${application}`, `channel#${channel}`, e.version, channelView(application, channel, state));
  }
  const releaseId = releaseOf(e);
  if (releaseId) {
    await deps.readModels.putTimeline(releaseId, { streamId: e.streamId, version: e.version, type: e.type, occurredAt: e.occurredAt, actor: e.actor, data: e.data });
  }
}

let projector: ReturnType<typeof createProjector> | undefined;
export const handler = (event: StreamEvent) => {
  projector ??= createProjector(backendFromResources());
  return projector(event);
};
