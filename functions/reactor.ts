import { getConfig, releaseDecider, streams } from "../core/index.js";
import type { Metadata, StoredEvent } from "../events/index.js";
import { backendFromResources, type BackendDeps } from "./adapters/backend.js";
import { handleCommand } from "./adapters/command-handler.js";
import { evaluate, pushAll, readChannel, readConfig, resendUnfinished } from "./adapters/promoter.js";
import { approvalRequestMessage } from "./adapters/slack.js";
import { inOrder, type StreamEvent } from "./adapters/stream-records.js";

/**
 * The reactor: a consumer of the event log's stream that moves releases along. It turns facts into
 * the next commands — enter the first channel, evaluate gates, enter the next channel once a
 * channel converged — and pushes instructions to agents. Every reaction is idempotent, so a
 * redelivered record has the effect of one.
 */
export function createReactor(deps: BackendDeps) {
  const dispatched = { together: (e: StoredEvent) => e.type === "InstructionDispatched", handleTogether: (events: StoredEvent[]) => pushDispatched(deps, events) };
  return (event: StreamEvent) => inOrder(event, (e) => react(deps, e), deps.log, dispatched);
}

/**
 * Pushes a run of dispatched instructions to their agents — unless the dispatching evaluation in
 * this container already did — then evaluates once per release what waits in its channel: older releases
 * there are now superseded by this one.
 */
async function pushDispatched(deps: BackendDeps, events: StoredEvent[]): Promise<void> {
  const instructions = events.flatMap((e) => (e.type === "InstructionDispatched" ? [{ data: e.data, meta: metaFor(deps, e) }] : []));
  const meta = instructions[0]?.meta;
  if (!meta) return;
  await pushAll(deps, instructions.map((i) => i.data), meta);
  const releases = new Map(instructions.filter(({ data }) => !data.rollback).map(({ data, meta }) => [`${data.application}/${data.channel}/${data.releaseId}`, { data, meta }]));
  for (const { data, meta } of releases.values()) await evaluateWaiting(deps, data.application, data.channel, meta, data.releaseId);
}

function metaFor(deps: BackendDeps, e: StoredEvent): Metadata {
  return { occurredAt: (deps.now?.() ?? new Date()).toISOString(), actor: { kind: "system", id: "reactor" }, correlationId: e.correlationId, causationId: e.eventId };
}

async function react(deps: BackendDeps, e: StoredEvent): Promise<void> {
  const meta = metaFor(deps, e);
  switch (e.type) {
    case "ReleaseCreated": {
      // Releases enter their first channel as they are created; this starts those created before that.
      const first = e.data.channels[0];
      if (first) await handleCommand(deps.store, releaseDecider, streams.release(e.data.releaseId), { type: "StartPromotion", channel: first }, meta);
      return;
    }
    case "PromotionStarted":
    case "ApprovalGranted":
    case "ApprovalRejected":
      await evaluate(deps, e.data.releaseId, e.data.channel, meta);
      return;
    case "ChannelConverged": {
      const release = await deps.store.read(streams.release(e.data.releaseId));
      const created = release.find((r) => r.type === "ReleaseCreated");
      if (created?.type !== "ReleaseCreated") return;
      const next = created.data.channels[created.data.channels.indexOf(e.data.channel) + 1];
      if (next) await handleCommand(deps.store, releaseDecider, streams.release(e.data.releaseId), { type: "StartPromotion", channel: next }, meta);
      return;
    }
    case "ApprovalRequested": {
      if (!deps.slackWebhookUrl || !deps.postToSlack) return;
      const history = await deps.store.read(streams.release(e.data.releaseId));
      const created = history.find((r) => r.type === "ReleaseCreated");
      if (created?.type !== "ReleaseCreated") return;
      // What runs in the channel now, to show the approver what would change.
      const running = (await readChannel(deps, created.data.application, e.data.channel)).services[created.data.service]?.converged;
      const runningCreated = running ? (await deps.store.read(streams.release(running))).find((r) => r.type === "ReleaseCreated") : undefined;
      const current = runningCreated?.type === "ReleaseCreated" ? runningCreated.data : undefined;
      await deps.postToSlack(deps.slackWebhookUrl, approvalRequestMessage({ release: created.data, channel: e.data.channel, approval: e.data.approval, minApprovers: e.data.minApprovers, ...(current ? { current } : {}) }));
      return;
    }
    case "ConfigApplied": {
      // A changed application or service may unblock releases waiting on it (say, one that could not render).
      if (e.data.kind === "runtime") return;
      const config = await readConfig(deps);
      const application = e.data.kind === "application" ? e.data.name : getConfig(config, "service", e.data.name)?.spec.application;
      const app = application ? getConfig(config, "application", application) : undefined;
      for (const channel of app?.spec.releaseChannels ?? []) await evaluateWaiting(deps, app!.name, channel.name, meta);
      return;
    }
    case "ChannelResumed":
      await evaluateWaiting(deps, e.data.application, e.data.channel, meta);
      return;
    case "ReleaseAbandoned": {
      const created = (await deps.store.read(streams.release(e.data.releaseId))).find((r) => r.type === "ReleaseCreated");
      if (created?.type === "ReleaseCreated") for (const channel of created.data.channels) await deps.readModels.clearWaiting(created.data.application, channel, e.data.releaseId);
      return;
    }
    case "AgentSuperseded":
    case "AgentDisconnected": {
      // The connection lost its lease (a newer agent, or a rotated token): tell it why, then close it.
      if (e.type === "AgentDisconnected" && e.data.reason !== "agent token rotated") return;
      const code = e.type === "AgentSuperseded" ? "agent.superseded" : "agent.token_rotated";
      const message = e.type === "AgentSuperseded" ? `another agent connection (${e.data.supersededBy}) took over runtime "${e.data.runtime}"` : `the agent token of runtime "${e.data.runtime}" was rotated; reconnect with the new token`;
      if ((await deps.gateway.send(e.data.connectionId, { type: "error", code, message })) === "sent") await deps.gateway.close(e.data.connectionId);
      return;
    }
    case "AgentConnected":
      await resendUnfinished(deps, e.data.runtime, meta);
      return;
    default:
      return;
  }
}

/** Evaluates the releases waiting in a channel, newest first, so a newer one supersedes older ones. */
async function evaluateWaiting(deps: BackendDeps, application: string, channel: string, meta: Metadata, except?: string): Promise<void> {
  const waiting = (await deps.readModels.waiting(application, channel)).map((w) => w.releaseId).filter((id) => id !== except);
  for (const releaseId of waiting.sort().reverse()) await evaluate(deps, releaseId, channel, meta);
}

let reactor: ReturnType<typeof createReactor> | undefined;
export const handler = (event: StreamEvent) => {
  reactor ??= createReactor(backendFromResources());
  return reactor(event);
};
