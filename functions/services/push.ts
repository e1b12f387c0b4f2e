import {
  agentUpgradeAvailable,
  channelDecider,
  CURRENT_AGENT_VERSION,
  deliveryDecider,
  DEFAULT_AGENT_IMAGE_REPOSITORY,
  fold,
  getConfig,
  listConfigs,
  mayStillBeOpening,
  PROGRESS,
  PROTOCOL_VERSION,
  runtimeDecider,
  streams,
  type ConfigState,
  type InstructionMessage,
  type Lease,
  type UpgradeMessage,
} from "../../core/index.js";
import type { EventData, Metadata, StoredEvent } from "../../events/index.js";
import { handleCommand, readState } from "./commands.js";
import { agentRuntimeOf, readConfig } from "./config.js";
import { loggerOf, nowOf, type BackendDeps } from "./deps.js";
import { pool } from "./pool.js";

/**
 * Pushing instructions to the agents that hold their runtimes' leases, and re-sending what an
 * agent has not finished when it comes back. A push is a delivery attempt, never the record: the
 * instruction stays in the channel's log until the agent reports, so nothing is lost when a push
 * fails or the connection is gone.
 *
 * A lease is granted inside $connect, and API Gateway answers 410 to posts until $connect returns:
 * a push that races a connecting agent (the reactor re-sending on AgentConnected, a dispatch at the
 * same moment) finds the connection "gone" while it is only opening. Such a lease is kept and what
 * the runtime has not finished is sent again a second later; only a connection that is still gone
 * once it can no longer be opening loses the lease.
 */

/** How long after a 410 from a connection that may still be opening the push is tried again. */
const OPENING_RETRY_MS = 1000;

export type PushResult = "sent" | "no-agent" | "gone" | "opening";

/** Leaves room under API Gateway's 128 KB message limit. */
export const MAX_INLINE_INSTRUCTION_BYTES = 120 * 1024;

/** Agents are pushed to this many at a time when one dispatch reaches many runtimes. */
const PUSH_CONCURRENCY = 16;
/**
 * The pushes this container started through a gateway, by instruction id (bounded): the evaluation
 * that dispatches pushes at once, the reactor a stream hop later, and whichever comes second waits
 * for the first instead of pushing again — or pushes itself if the first failed.
 */
const started = new WeakMap<BackendDeps["gateway"], Map<string, Promise<PushResult>>>();

async function pushOnce(
  deps: BackendDeps,
  instruction: EventData<"InstructionDispatched">,
  meta: Metadata,
  config: ConfigState,
  unlessAcknowledged: boolean,
): Promise<PushResult> {
  const id = instruction.instructionId;
  let pushes = started.get(deps.gateway);
  if (!pushes) started.set(deps.gateway, (pushes = new Map<string, Promise<PushResult>>()));
  const earlier = await pushes.get(id)?.catch(() => undefined);
  if (earlier) return earlier;
  if (unlessAcknowledged && (await acknowledged(deps, instruction))) return "sent";
  const push = pushInstruction(deps, instruction, meta, config);
  pushes.set(id, push);
  if (pushes.size > 10_000) pushes.delete(pushes.keys().next().value!);
  try {
    return await push;
  } catch (err) {
    pushes.delete(id);
    throw err;
  }
}

/**
 * How long after a write-path dispatch the reactor's safety net looks again, when the agent had not
 * acknowledged it yet: the request that dispatched it pushes at once, so by then it has — unless
 * that request stopped in between, and then this push is the one that goes out.
 */
export const WRITE_PATH_PUSH_CHECK_MS = 5000;

/** Whether an InstructionDispatched was appended on the write path, whose request pushes it itself. */
export function dispatchedOnWritePath(e: StoredEvent): boolean {
  return e.type === "InstructionDispatched" && e.actor.kind === "system" && e.actor.id === "api";
}

/**
 * The reactor's safety net for instructions dispatched on the write path: none is pushed again at
 * once, which would race the request's own push. One its agent has not acknowledged yet is looked
 * at again WRITE_PATH_PUSH_CHECK_MS later (pushIfUnacknowledged); one it has is done.
 */
export async function checkWritePathPushes(deps: BackendDeps, events: StoredEvent[], meta: Metadata): Promise<void> {
  for (const e of events) {
    if (e.type !== "InstructionDispatched" || (await acknowledged(deps, e.data))) continue;
    const at = new Date(nowOf(deps).getTime() + WRITE_PATH_PUSH_CHECK_MS).toISOString();
    await deps.scheduler.schedule(
      { kind: "push", streamId: e.streamId, version: e.version, at, correlationId: meta.correlationId },
      nowOf(deps),
    );
  }
}

/**
 * The write path's instruction at `streamId`@`version`, pushed if its agent has still not
 * acknowledged it — and only while its channel still wants it: an instruction a newer release (or a
 * rollback) has replaced since must not overtake it at the agent.
 */
export async function pushIfUnacknowledged(
  deps: BackendDeps,
  streamId: string,
  version: number,
  meta: Metadata,
): Promise<void> {
  const [e] = await deps.store.read(streamId, version, version);
  if (e?.type !== "InstructionDispatched") return;
  const channel = (await readState(deps.store, channelDecider, streamId)).state;
  if (!channel.services[e.data.service]?.desired?.instructionIds.includes(e.data.instructionId)) return;
  await pushAll(deps, [e.data], meta, undefined, { unlessAcknowledged: true });
}

/** Whether the instruction's runtime reported it received already (its delivery stream says so). */
async function acknowledged(deps: BackendDeps, i: EventData<"InstructionDispatched">): Promise<boolean> {
  const { statuses } = (
    await readState(deps.store, deliveryDecider, streams.delivery(i.application, i.channel, i.runtime))
  ).state;
  return PROGRESS[statuses[i.instructionId] ?? "dispatched"] >= PROGRESS.acknowledged;
}

/**
 * Pushes instructions to their agents, PUSH_CONCURRENCY runtimes at a time, each runtime's in the
 * order given (a newer release must not overtake an older one), each at most once per container.
 * Pushing twice would be harmless — agents apply an instruction once per id — but costs a message.
 * A runtime whose push was not sent is pushed no more: the rest go out with what it has not
 * finished, when its agent connects or its opening connection is tried again.
 *
 * `unlessAcknowledged` (the reactor's safety net): an instruction another container dispatched and
 * pushed — the HTTP API, on the write path — and its agent acknowledged is not pushed again.
 */
export async function pushAll(
  deps: BackendDeps,
  instructions: EventData<"InstructionDispatched">[],
  meta: Metadata,
  config?: ConfigState,
  options: { unlessAcknowledged?: boolean } = {},
): Promise<void> {
  if (!instructions.length) return;
  const known = config ?? (await readConfig(deps));
  const runs = new Map<string, EventData<"InstructionDispatched">[]>();
  for (const i of instructions)
    runs
      .set(i.runtime, runs.get(i.runtime) ?? [])
      .get(i.runtime)!
      .push(i);
  const byRuntime = [...runs.values()];
  await pool(byRuntime.length, PUSH_CONCURRENCY, async (n) => {
    for (const i of byRuntime[n]!)
      if ((await pushOnce(deps, i, meta, known, options.unlessAcknowledged ?? false)) !== "sent") return;
  });
}

/** Pushes one instruction to the agent holding its runtime's lease, if one is connected. */
export async function pushInstruction(
  deps: BackendDeps,
  instruction: EventData<"InstructionDispatched">,
  meta: Metadata,
  config?: ConfigState,
): Promise<PushResult> {
  const agentRuntime = agentRuntimeOf(config ?? (await readConfig(deps)), instruction.runtime);
  const lease = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state.lease;
  const { instructionId, releaseId, application, channel, service, runtime } = instruction;
  const logger = loggerOf(deps).child({ instructionId, releaseId, application, channel, service, runtime });
  const to = agentRuntime === runtime ? runtime : `${agentRuntime} (the proxy of ${runtime})`;
  if (!lease) {
    logger.info(`${channel}: instruction ${instructionId} waits for an agent: none is connected for ${to}`);
    return "no-agent";
  }
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
    Buffer.byteLength(JSON.stringify(inline)) <= MAX_INLINE_INSTRUCTION_BYTES || !deps.apiUrl
      ? inline
      : {
          ...reference,
          payloadUrl: `${deps.apiUrl}/v1/agent/instructions/${encodeURIComponent(instruction.instructionId)}`,
        };
  if ((await deps.gateway.send(lease.connectionId, message)) === "sent") {
    logger.info(
      `${channel}: instruction ${instructionId} sent to ${to}${message.payloadUrl ? " (payload fetched over HTTP)" : ""}`,
      { connectionId: lease.connectionId },
    );
    return "sent";
  }
  const undelivered = await notDelivered(deps, agentRuntime, lease, meta);
  if (undelivered === "opening")
    logger.info(
      `${channel}: instruction ${instructionId} not delivered yet: the agent connection of ${to} is still opening; it is sent again in ${OPENING_RETRY_MS / 1000} s`,
      { connectionId: lease.connectionId },
    );
  else
    logger.warn(
      `${channel}: instruction ${instructionId} not delivered: the agent connection of ${to} is gone; it is sent again when an agent connects`,
      { connectionId: lease.connectionId },
    );
  return undelivered;
}

/**
 * A post the lease holder's connection answered with 410: while it may still be opening, what the
 * runtime has not finished (after an upgrade request, with `upgrade`) is sent again a second later;
 * after that it is gone, and so is its lease. What was not delivered stays stored, unacknowledged:
 * it goes out again when an agent connects.
 */
async function notDelivered(
  deps: BackendDeps,
  agentRuntime: string,
  lease: Lease,
  meta: Metadata,
  options: { upgrade?: boolean } = {},
): Promise<"opening" | "gone"> {
  const now = nowOf(deps);
  if (mayStillBeOpening(lease, now)) {
    await deps.scheduler.schedule(
      {
        kind: "redeliver",
        runtime: agentRuntime,
        connectionId: lease.connectionId,
        at: new Date(now.getTime() + OPENING_RETRY_MS).toISOString(),
        correlationId: meta.correlationId,
        ...(options.upgrade ? { upgrade: true } : {}),
      },
      now,
    );
    return "opening";
  }
  await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(agentRuntime),
    {
      type: "DisconnectAgent",
      runtime: agentRuntime,
      connectionId: lease.connectionId,
      reason: "the connection is gone (PostToConnection answered 410)",
    },
    meta,
  );
  return "gone";
}

/**
 * What an agent is sent once its connection is open: an `upgrade` request first, if its runtime is
 * managed and the agent older than this server ships, then every instruction its runtime has not
 * finished. A connection still opening gets both a second later (the redelivery).
 */
export async function greetAgent(
  deps: BackendDeps,
  agentRuntime: string,
  connectionId: string,
  meta: Metadata,
): Promise<void> {
  const upgrade = await requestUpgrade(deps, agentRuntime, connectionId, meta);
  if (upgrade === "opening" || upgrade === "gone") return;
  await resendUnfinished(deps, agentRuntime, meta);
}

/**
 * Asks the connection holding a managed runtime's lease to upgrade its agent, when it is older
 * than CURRENT_AGENT_VERSION: to that version, from the image repository the runtime was linked
 * with. External runtimes are never asked; their operators keep the agent current.
 */
export async function requestUpgrade(
  deps: BackendDeps,
  agentRuntime: string,
  connectionId: string,
  meta: Metadata,
): Promise<PushResult | "not-needed"> {
  const runtime = getConfig(await readConfig(deps), "runtime", agentRuntime);
  if (!runtime?.spec.kubernetes || (runtime.spec.kubernetes.management ?? "managed") !== "managed") return "not-needed";
  const state = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state;
  const lease = state.lease;
  // A connection that no longer holds the lease is not asked; the one holding it was, on its connect.
  if (lease?.connectionId !== connectionId) return "not-needed";
  if (!agentUpgradeAvailable(lease.agentVersion, CURRENT_AGENT_VERSION, deps.agentSupportedMinors)) return "not-needed";
  const message: UpgradeMessage = {
    type: "upgrade",
    version: CURRENT_AGENT_VERSION,
    image: `${state.agentImage ?? DEFAULT_AGENT_IMAGE_REPOSITORY}:${CURRENT_AGENT_VERSION}`,
  };
  const logger = loggerOf(deps).child({ runtime: agentRuntime, connectionId });
  if ((await deps.gateway.send(connectionId, message)) === "sent") {
    logger.info(`${agentRuntime}: agent ${lease.agentVersion} asked to upgrade to ${message.image}`);
    return "sent";
  }
  const undelivered = await notDelivered(deps, agentRuntime, lease, meta, { upgrade: true });
  logger.info(
    undelivered === "opening"
      ? `${agentRuntime}: upgrade request not delivered yet: the agent connection is still opening; it is sent again in ${OPENING_RETRY_MS / 1000} s`
      : `${agentRuntime}: upgrade request not delivered: the agent connection is gone`,
  );
  return undelivered;
}

/**
 * A redelivery that was due: what the runtime has not finished (after the upgrade request, with
 * `upgrade`) goes to the connection that was still opening — unless another connection holds the
 * lease by now (its own connect re-sends) or none does.
 */
export async function redeliver(
  deps: BackendDeps,
  agentRuntime: string,
  connectionId: string,
  meta: Metadata,
  options: { upgrade?: boolean } = {},
): Promise<void> {
  const { lease } = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state;
  if (lease?.connectionId !== connectionId) return;
  if (options.upgrade) await greetAgent(deps, agentRuntime, connectionId, meta);
  else await resendUnfinished(deps, agentRuntime, meta);
}

/**
 * Re-sends every instruction an agent's runtime has not finished, when that agent (re)connects —
 * no more once one is not sent: the rest go out with it, when it is tried again.
 */
export async function resendUnfinished(deps: BackendDeps, agentRuntime: string, meta: Metadata): Promise<number> {
  const config = await readConfig(deps);
  let sent = 0;
  resend: for (const app of listConfigs(config, "application")) {
    for (const channel of app.spec.releaseChannels) {
      if (!channel.runtimes.some((r) => agentRuntimeOf(config, r.runtime) === agentRuntime)) continue;
      const history = await deps.store.read(streams.channel(app.name, channel.name));
      const state = fold(channelDecider, history);
      const dispatched = new Map(
        history.flatMap((e) => (e.type === "InstructionDispatched" ? [[e.data.instructionId, e.data] as const] : [])),
      );
      // Finished: failed (the channel says) or succeeded (the runtime's delivery stream says).
      const succeeded = new Map<string, Set<string>>();
      const succeededIn = async (runtime: string) => {
        if (!succeeded.has(runtime)) {
          const { statuses } = (
            await readState(deps.store, deliveryDecider, streams.delivery(app.name, channel.name, runtime))
          ).state;
          succeeded.set(runtime, new Set(Object.keys(statuses).filter((id) => statuses[id] === "succeeded")));
        }
        return succeeded.get(runtime)!;
      };
      for (const svc of Object.values(state.services)) {
        if (svc.desired?.converged) continue;
        for (const id of svc.desired?.instructionIds ?? []) {
          const i = state.instructions[id];
          const data = dispatched.get(id);
          if (!i || !data || i.status === "succeeded" || i.status === "failed") continue;
          if (agentRuntimeOf(config, i.runtime) !== agentRuntime || (await succeededIn(i.runtime)).has(id)) continue;
          if ((await pushInstruction(deps, data, meta, config)) !== "sent") break resend;
          sent++;
        }
      }
    }
  }
  loggerOf(deps).debug(`${agentRuntime}: ${sent} unfinished instruction(s) sent again`, { runtime: agentRuntime });
  return sent;
}
