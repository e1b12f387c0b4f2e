import type { Metadata, StoredEvent } from "../events/index.js";
import type { StreamEvent } from "./adapters/lambda-events.js";
import { inOrder } from "./adapters/stream-records.js";
import { closeReplacedConnection } from "./services/agents.js";
import { createConfigReleases } from "./services/config-releases.js";
import { countLoggedSuccess } from "./services/convergence.js";
import { loggerOf, nowOf, type BackendDeps } from "./services/deps.js";
import { eventKeys } from "./services/narration.js";
import { announceApprovalRequest, announceOutcomes } from "./services/notifications.js";
import {
  abandonedMeanwhile,
  enterChannel,
  enterNextChannel,
  evaluate,
  evaluateAfterConfigChange,
  evaluateWaiting,
  evaluationOf,
  forgetRelease,
} from "./services/promotion.js";
import { checkWritePathPushes, dispatchedOnWritePath, greetAgent, pushAll } from "./services/push.js";
import { scheduleResume } from "./services/timed-pauses.js";
import { backendFromResources } from "./wiring.js";

/**
 * The reactor: a consumer of the event log's stream that moves releases along. It turns facts into
 * the next use case — enter the first channel, evaluate gates, enter the next channel once a
 * channel converged, push instructions to agents. Every reaction is idempotent, so a redelivered
 * record has the effect of one; it finishes whatever the write path did not.
 */
export function createReactor(deps: BackendDeps) {
  const logger = loggerOf(deps).child({ component: "reactor" });
  // What a reaction logs carries the event it reacts to, and so the correlation id of its story.
  const reacting = (e: StoredEvent): BackendDeps => ({ ...deps, logger: logger.child(eventKeys(e)) });
  const dispatched = {
    together: (e: StoredEvent) => e.type === "InstructionDispatched",
    // A run may span releases: its lines carry each instruction's own keys instead.
    handleTogether: (events: StoredEvent[]) => pushDispatched({ ...deps, logger }, events),
  };
  return (event: StreamEvent) => inOrder(event, (e) => reactUnlessAbandoned(reacting(e), e), logger, dispatched);
}

function metaFor(deps: BackendDeps, e: StoredEvent): Metadata {
  return {
    occurredAt: nowOf(deps).toISOString(),
    actor: { kind: "system", id: "reactor" },
    correlationId: e.correlationId,
    causationId: e.eventId,
  };
}

/**
 * Pushes a run of dispatched instructions to their agents — unless the dispatching evaluation in
 * this container already did, or (dispatched on the write path) its agent acknowledged it — then
 * evaluates once per release what waits in its channel: older releases there are now superseded
 * by this one.
 */
async function pushDispatched(deps: BackendDeps, events: StoredEvent[]): Promise<void> {
  const instructions = events.flatMap((e) =>
    e.type === "InstructionDispatched" ? [{ event: e, data: e.data, meta: metaFor(deps, e) }] : [],
  );
  const meta = instructions[0]?.meta;
  if (!meta) return;
  const elsewhere = instructions.filter((i) => dispatchedOnWritePath(i.event));
  await pushAll(
    deps,
    instructions.filter((i) => !elsewhere.includes(i)).map((i) => i.data),
    meta,
    undefined,
    { unlessAcknowledged: true },
  );
  await checkWritePathPushes(
    deps,
    elsewhere.map((i) => i.event),
    meta,
  );
  const releases = new Map(
    instructions
      .filter(({ data }) => !data.rollback)
      .map(({ data, meta }) => [`${data.application}/${data.channel}/${data.releaseId}`, { data, meta }]),
  );
  for (const { data, meta } of releases.values())
    await evaluateWaiting(deps, data.application, data.channel, meta, data.releaseId);
  await announceOutcomes(deps, events);
}

/** Nothing is owed to a release abandoned since its event was recorded (see abandonedMeanwhile). */
async function reactUnlessAbandoned(deps: BackendDeps, e: StoredEvent): Promise<void> {
  try {
    await react(deps, e);
  } catch (err) {
    if (!abandonedMeanwhile(err)) throw err;
    loggerOf(deps).info(`${e.type} ${e.eventId} needs nothing more: ${err.message}`);
  }
}

async function react(deps: BackendDeps, e: StoredEvent): Promise<void> {
  const meta = metaFor(deps, e);
  // A promotion started, an approval decided…: the write path that appended it evaluated already,
  // as a rule; this finishes whatever it did not.
  const at = evaluationOf(e);
  if (at) return void (await evaluate(deps, at.releaseId, at.channel, meta));
  switch (e.type) {
    case "ReleaseCreated": {
      // Releases enter their first channel as they are created; this starts those created before that.
      const first = e.data.channels[0];
      if (first) await enterChannel(deps, e.data.releaseId, first, meta);
      return;
    }
    case "ChannelConverged":
      await enterNextChannel(deps, e.data.releaseId, e.data.channel, meta);
      await announceOutcomes(deps, [e]);
      return;
    case "ApplySucceeded":
      // Counted again from the log, should the agent's handler have stopped in between.
      await countLoggedSuccess(deps, e, meta);
      return;
    case "ApplyFailed":
    case "ReleaseRolledBack":
      await announceOutcomes(deps, [e]);
      return;
    case "ApprovalRequested":
      await announceApprovalRequest(deps, e.data);
      return;
    case "ConfigApplied":
      await evaluateAfterConfigChange(deps, e.data.kind, e.data.name, meta);
      await createConfigReleases(deps, { kind: e.data.kind, name: e.data.name, actor: e.actor }, meta);
      return;
    case "ChannelPaused":
      await scheduleResume(deps, e.data, e.correlationId);
      return;
    case "ChannelResumed":
      await evaluateWaiting(deps, e.data.application, e.data.channel, meta);
      return;
    case "ReleaseAbandoned":
      await forgetRelease(deps, e.data.releaseId);
      return;
    case "ReleaseMarkedBad":
      await forgetRelease(deps, e.data.releaseId);
      await announceOutcomes(deps, [e]);
      return;
    case "AgentSuperseded":
      await closeReplacedConnection(deps, { superseded: e.data });
      return;
    case "AgentDisconnected":
      await closeReplacedConnection(deps, { disconnected: e.data });
      return;
    case "AgentConnected":
      // An upgrade request if the runtime is managed and the agent outdated, then what it has not finished.
      await greetAgent(deps, e.data.runtime, e.data.connectionId, meta);
      return;
    default:
      return;
  }
}

let reactor: ReturnType<typeof createReactor> | undefined;
export const handler = (event: StreamEvent) => {
  reactor ??= createReactor(backendFromResources());
  return reactor(event);
};
