import type { StoredEvent } from "../events/index.js";
import type { StreamEvent } from "./adapters/lambda-events.js";
import { inOrder } from "./adapters/stream-records.js";
import { loggerOf } from "./services/deps.js";
import { ChannelStates, projectAll, type ProjectorDeps } from "./services/projection.js";
import { ReleaseStates } from "./services/stream-states.js";
import { backendFromResources } from "./wiring.js";

/** The projector: a consumer of the event log's stream that keeps the read models in step with it. */
export function createProjector(deps: ProjectorDeps) {
  const cache = new ChannelStates();
  const releases = new ReleaseStates();
  const batch = {
    together: () => true,
    handleTogether: (events: StoredEvent[]) => projectAll(deps, events, cache, releases),
  };
  const logger = loggerOf(deps).child({ component: "projector" });
  return (event: StreamEvent) => inOrder(event, (e) => projectAll(deps, [e], cache, releases), logger, batch);
}

let projector: ReturnType<typeof createProjector> | undefined;
export const handler = (event: StreamEvent) => {
  projector ??= createProjector(backendFromResources());
  return projector(event);
};
