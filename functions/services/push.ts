import {
  channelDecider,
  fold,
  listConfigs,
  mayStillBeOpening,
  PROTOCOL_VERSION,
  runtimeDecider,
  streams,
  type ConfigState,
  type InstructionMessage,
} from "../../core/index.js";
import type { EventData, Metadata } from "../../events/index.js";
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
 * The pushes this container started, by instruction id (bounded): the evaluation that dispatches
 * pushes at once, the reactor a stream hop later, and whichever comes second waits for the first
 * instead of pushing again — or pushes itself if the first failed.
 */
const pushes = new Map<string, Promise<PushResult>>();

async function pushOnce(
  deps: BackendDeps,
  instruction: EventData<"InstructionDispatched">,
  meta: Metadata,
  config: ConfigState,
): Promise<PushResult> {
  const id = instruction.instructionId;
  const earlier = await pushes.get(id)?.catch(() => undefined);
  if (earlier) return earlier;
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
 * Pushes instructions to their agents, PUSH_CONCURRENCY runtimes at a time, each runtime's in the
 * order given (a newer release must not overtake an older one), each at most once per container.
 * Pushing twice would be harmless — agents apply an instruction once per id — but costs a message.
 * A runtime whose push was not sent is pushed no more: the rest go out with what it has not
 * finished, when its agent connects or its opening connection is tried again.
 */
export async function pushAll(
  deps: BackendDeps,
  instructions: EventData<"InstructionDispatched">[],
  meta: Metadata,
  config?: ConfigState,
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
    for (const i of byRuntime[n]!) if ((await pushOnce(deps, i, meta, known)) !== "sent") return;
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
  const runtimeStream = streams.runtime(agentRuntime);
  const lease = (await readState(deps.store, runtimeDecider, runtimeStream)).state.lease;
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
  const result = await deps.gateway.send(lease.connectionId, message);
  if (result === "sent")
    logger.info(
      `${channel}: instruction ${instructionId} sent to ${to}${message.payloadUrl ? " (payload fetched over HTTP)" : ""}`,
      { connectionId: lease.connectionId },
    );
  const now = nowOf(deps);
  if (result === "gone" && mayStillBeOpening(lease, now)) {
    logger.info(
      `${channel}: instruction ${instructionId} not delivered yet: the agent connection of ${to} is still opening; it is sent again in ${OPENING_RETRY_MS / 1000} s`,
      { connectionId: lease.connectionId },
    );
    const at = new Date(now.getTime() + OPENING_RETRY_MS).toISOString();
    await deps.scheduler.schedule(
      {
        kind: "redeliver",
        runtime: agentRuntime,
        connectionId: lease.connectionId,
        at,
        correlationId: meta.correlationId,
      },
      now,
    );
    return "opening";
  }
  if (result === "gone") {
    logger.warn(
      `${channel}: instruction ${instructionId} not delivered: the agent connection of ${to} is gone; it is sent again when an agent connects`,
      { connectionId: lease.connectionId },
    );
    // The instruction stays stored, unacknowledged: it goes out again when an agent connects.
    await handleCommand(
      deps.store,
      runtimeDecider,
      runtimeStream,
      {
        type: "DisconnectAgent",
        runtime: agentRuntime,
        connectionId: lease.connectionId,
        reason: "the connection is gone (PostToConnection answered 410)",
      },
      meta,
    );
  }
  return result;
}

/**
 * A redelivery that was due: what the runtime has not finished goes to the connection that was
 * still opening — unless another connection holds the lease by now (its own connect re-sends) or
 * none does.
 */
export async function redeliver(
  deps: BackendDeps,
  agentRuntime: string,
  connectionId: string,
  meta: Metadata,
): Promise<void> {
  const { lease } = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state;
  if (lease?.connectionId !== connectionId) return;
  await resendUnfinished(deps, agentRuntime, meta);
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
      for (const svc of Object.values(state.services)) {
        for (const id of svc.desired?.instructionIds ?? []) {
          const i = state.instructions[id];
          const data = dispatched.get(id);
          if (
            !i ||
            !data ||
            i.status === "succeeded" ||
            i.status === "failed" ||
            agentRuntimeOf(config, i.runtime) !== agentRuntime
          )
            continue;
          if ((await pushInstruction(deps, data, meta, config)) !== "sent") break resend;
          sent++;
        }
      }
    }
  }
  loggerOf(deps).debug(`${agentRuntime}: ${sent} unfinished instruction(s) sent again`, { runtime: agentRuntime });
  return sent;
}
