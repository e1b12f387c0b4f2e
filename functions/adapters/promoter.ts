import {
  channelDecider,
  configDecider,
  DomainError,
  fold,
  getConfig,
  listConfigs,
  planPromotion,
  releaseDecider,
  runtimeDecider,
  streams,
  type ChannelCommand,
  type ChannelState,
  type ConfigState,
  type InstructionMessage,
  type PromotionPlan,
  type Runtime,
} from "../../core/index.js";
import { PROTOCOL_VERSION } from "../../core/index.js";
import type { EventData, Metadata, StoredEvent } from "../../events/index.js";
import { nowOf, type BackendDeps } from "./backend.js";
import { handleCommand, readState } from "./command-handler.js";
import { MAX_EVENTS_PER_APPEND, type EventStore } from "./event-store.js";
import { pool } from "./pool.js";

/**
 * Carries out what core decides: evaluating a release's gates in a channel and dispatching when
 * they pass, pushing instructions to agents, and re-sending what an agent has not finished when it
 * comes back. Every step is an idempotent command, so a retry after a crash anywhere in between
 * has the effect of one run.
 */

/** Leaves room under API Gateway's 128 KB message limit. */
export const MAX_INLINE_INSTRUCTION_BYTES = 120 * 1024;

/** The current config (read incrementally; see readState). */
export async function readConfig(deps: Pick<BackendDeps, "store">): Promise<ConfigState> {
  return (await readState(deps.store, configDecider, streams.config())).state;
}

export async function readChannel(deps: Pick<BackendDeps, "store">, application: string, channel: string): Promise<ChannelState> {
  return (await readState(deps.store, channelDecider, streams.channel(application, channel))).state;
}

function runtimesOf(config: ConfigState): Map<string, Runtime> {
  return new Map(listConfigs(config, "runtime").map((r) => [r.name, r.spec]));
}

/** The runtime whose agent carries out a runtime's instructions: itself, or an extension's proxy. */
export function agentRuntimeOf(config: ConfigState, runtime: string): string {
  return getConfig(config, "runtime", runtime)?.spec.extension?.proxyRuntime.runtime ?? runtime;
}

export async function evaluate(deps: BackendDeps, releaseId: string, channel: string, meta: Metadata): Promise<PromotionPlan> {
  const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  if (release.status === "none") return { action: "none", reason: "the release does not exist" };
  const config = await readConfig(deps);
  const application = getConfig(config, "application", release.application);
  const service = getConfig(config, "service", release.service);
  if (!application || !service) return { action: "none", reason: "the application or service is no longer configured" };
  const channels = Object.fromEntries(
    await Promise.all(application.spec.releaseChannels.map(async (c) => [c.name, await readChannel(deps, release.application, c.name)] as const)),
  );
  const now = nowOf(deps);
  const plan = planPromotion({ now: now.toISOString(), application: application.spec, service: service.spec, runtimes: runtimesOf(config), release, channel, channels });
  const releaseStream = streams.release(releaseId);

  if (plan.action === "supersede") {
    await handleCommand(deps.store, releaseDecider, releaseStream, { type: "SupersedeRelease", channel, supersededBy: plan.supersededBy }, meta);
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
    return plan;
  }
  if (plan.action === "none") {
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
    return plan;
  }

  for (const gate of plan.gates) {
    await handleCommand(deps.store, releaseDecider, releaseStream, { type: "RecordPreconditionResult", channel, precondition: gate.key, result: gate.result }, meta);
  }
  // Whether the release can be rendered is a gate of its own: a config problem blocks it, visibly.
  const rendered = plan.action === "deploy" ? { state: "satisfied" as const } : plan.renderProblem ? { state: "blocked" as const, reason: plan.renderProblem } : undefined;
  if (rendered && (rendered.state === "blocked" || release.gates[channel]?.preconditions.render)) {
    await handleCommand(deps.store, releaseDecider, releaseStream, { type: "RecordPreconditionResult", channel, precondition: "render", result: rendered }, meta);
  }
  for (const a of plan.requestApprovals) {
    await handleCommand(deps.store, releaseDecider, releaseStream, { type: "RequestApproval", channel, approval: a.approval, minApprovers: a.minApprovers }, meta);
  }
  if (plan.action === "wait") {
    const reasons = [...(plan.paused ? [plan.paused] : []), ...(plan.renderProblem ? [plan.renderProblem] : []), ...plan.gates.flatMap((g) => (g.result.state === "blocked" ? [g.result.reason] : []))];
    await deps.readModels.markWaiting(release.application, channel, releaseId, reasons);
  }
  if (plan.action === "deploy" && plan.instructions) {
    try {
      const dispatched = await dispatchInParts(deps.store, streams.channel(release.application, channel), { type: "DeployRelease", application: release.application, channel, service: release.service, releaseId, instructions: plan.instructions }, meta);
      // Push at once rather than a stream hop later; the reactor pushes whatever this did not.
      await pushAll(deps, dispatched.flatMap((e) => (e.type === "InstructionDispatched" ? [e.data] : [])), meta, config);
    } catch (err) {
      // Paused between planning and dispatching: resuming the channel evaluates it again.
      if (!(err instanceof DomainError && err.code === "channel.paused")) throw err;
      await deps.readModels.markWaiting(release.application, channel, releaseId, [`release channel "${channel}" is paused`]);
      return plan;
    }
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
  }
  if (plan.wakeAt) await deps.scheduler.schedule({ releaseId, channel, at: plan.wakeAt }, now);
  return plan;
}

/** Instructions per append: the event store takes 98 events at once, and a rollback adds one of its own. */
export const DISPATCH_PART = MAX_EVENTS_PER_APPEND - 8;

/**
 * Dispatches a deploy or rollback to a channel. A channel with more runtimes than one append holds
 * gets its instructions in parts, each naming the total so the channel cannot converge early; a
 * crash between parts is finished by the next evaluation (the decider dispatches only what is
 * missing). Returns the events appended.
 */
export async function dispatchInParts(store: EventStore, stream: string, command: Extract<ChannelCommand, { type: "DeployRelease" | "RollbackService" }>, meta: Metadata): Promise<StoredEvent[]> {
  const parts: (typeof command.instructions)[] = [];
  for (let i = 0; i < command.instructions.length; i += DISPATCH_PART) parts.push(command.instructions.slice(i, i + DISPATCH_PART));
  if (!parts.length) parts.push([]);
  const appended: StoredEvent[] = [];
  for (const instructions of parts) {
    const part = { ...command, instructions, ...(parts.length > 1 ? { total: command.instructions.length } : {}) };
    const id = command.type === "DeployRelease" ? `deploy:${instructions[0]?.instructionId ?? command.releaseId}` : undefined;
    appended.push(...(await handleCommand(store, channelDecider, stream, part, meta, id ? { commandId: id } : {})).events);
  }
  return appended;
}

/** Agents are pushed to this many at a time when one dispatch reaches many runtimes. */
const PUSH_CONCURRENCY = 16;
/**
 * The pushes this container started, by instruction id (bounded): the evaluation that dispatches
 * pushes at once, the reactor a stream hop later, and whichever comes second waits for the first
 * instead of pushing again — or pushes itself if the first failed.
 */
const pushes = new Map<string, Promise<unknown>>();

async function pushOnce(deps: BackendDeps, instruction: EventData<"InstructionDispatched">, meta: Metadata, config: ConfigState): Promise<void> {
  const id = instruction.instructionId;
  const earlier = pushes.get(id);
  if (earlier && (await earlier.then(() => true, () => false))) return;
  const push = pushInstruction(deps, instruction, meta, config);
  pushes.set(id, push);
  if (pushes.size > 10_000) pushes.delete(pushes.keys().next().value!);
  try {
    await push;
  } catch (err) {
    pushes.delete(id);
    throw err;
  }
}

/**
 * Pushes instructions to their agents, PUSH_CONCURRENCY runtimes at a time, each runtime's in the
 * order given (a newer release must not overtake an older one), each at most once per container.
 * Pushing twice would be harmless — agents apply an instruction once per id — but costs a message.
 */
export async function pushAll(deps: BackendDeps, instructions: EventData<"InstructionDispatched">[], meta: Metadata, config?: ConfigState): Promise<void> {
  if (!instructions.length) return;
  const known = config ?? (await readConfig(deps));
  const runs = new Map<string, EventData<"InstructionDispatched">[]>();
  for (const i of instructions) runs.set(i.runtime, runs.get(i.runtime) ?? []).get(i.runtime)!.push(i);
  const byRuntime = [...runs.values()];
  await pool(byRuntime.length, PUSH_CONCURRENCY, async (n) => {
    for (const i of byRuntime[n]!) await pushOnce(deps, i, meta, known);
  });
}

/** Pushes one instruction to the agent holding its runtime's lease, if one is connected. */
export async function pushInstruction(deps: BackendDeps, instruction: EventData<"InstructionDispatched">, meta: Metadata, config?: ConfigState): Promise<"sent" | "no-agent" | "gone"> {
  const agentRuntime = agentRuntimeOf(config ?? (await readConfig(deps)), instruction.runtime);
  const runtimeStream = streams.runtime(agentRuntime);
  const lease = (await readState(deps.store, runtimeDecider, runtimeStream)).state.lease;
  if (!lease) return "no-agent";
  const inline: InstructionMessage = {
    type: "instruction",
    protocol: PROTOCOL_VERSION,
    instructionId: instruction.instructionId,
    runtime: instruction.runtime,
    application: instruction.application,
    channel: instruction.channel,
    service: instruction.service,
    releaseId: instruction.releaseId,
    rollback: instruction.rollback,
    leaseGeneration: lease.generation,
    payload: instruction.payload,
  };
  // API Gateway refuses WebSocket messages over 128 KB: a larger instruction is fetched over HTTP.
  const { payload: _payload, ...reference } = inline;
  const message: InstructionMessage =
    Buffer.byteLength(JSON.stringify(inline)) <= MAX_INLINE_INSTRUCTION_BYTES || !deps.apiUrl ? inline : { ...reference, payloadUrl: `${deps.apiUrl}/v1/agent/instructions/${encodeURIComponent(instruction.instructionId)}` };
  const result = await deps.gateway.send(lease.connectionId, message);
  if (result === "gone") {
    // The instruction stays stored, unacknowledged: it goes out again when an agent connects.
    await handleCommand(deps.store, runtimeDecider, runtimeStream, { type: "DisconnectAgent", runtime: agentRuntime, connectionId: lease.connectionId, reason: "the connection is gone (PostToConnection answered 410)" }, meta);
  }
  return result;
}

/** Re-sends every instruction an agent's runtime has not finished, when that agent (re)connects. */
export async function resendUnfinished(deps: BackendDeps, agentRuntime: string, meta: Metadata): Promise<number> {
  const config = await readConfig(deps);
  let sent = 0;
  for (const app of listConfigs(config, "application")) {
    for (const channel of app.spec.releaseChannels) {
      if (!channel.runtimes.some((r) => agentRuntimeOf(config, r.runtime) === agentRuntime)) continue;
      const history = await deps.store.read(streams.channel(app.name, channel.name));
      const state = fold(channelDecider, history as never);
      const dispatched = new Map(history.flatMap((e) => (e.type === "InstructionDispatched" ? [[e.data.instructionId, e.data] as const] : [])));
      for (const svc of Object.values(state.services)) {
        for (const id of svc.desired?.instructionIds ?? []) {
          const i = state.instructions[id];
          const data = dispatched.get(id);
          if (!i || !data || i.status === "succeeded" || i.status === "failed" || agentRuntimeOf(config, i.runtime) !== agentRuntime) continue;
          if ((await pushInstruction(deps, data, meta, config)) === "sent") sent++;
        }
      }
    }
  }
  return sent;
}
