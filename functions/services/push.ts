import {
  channelDecider,
  fold,
  listConfigs,
  PROTOCOL_VERSION,
  runtimeDecider,
  streams,
  type ConfigState,
  type InstructionMessage,
} from "../../core/index.js";
import type { EventData, Metadata } from "../../events/index.js";
import { handleCommand, readState } from "./commands.js";
import { agentRuntimeOf, readConfig } from "./config.js";
import { loggerOf, type BackendDeps } from "./deps.js";
import { pool } from "./pool.js";

/**
 * Pushing instructions to the agents that hold their runtimes' leases, and re-sending what an
 * agent has not finished when it comes back. A push is a delivery attempt, never the record: the
 * instruction stays in the channel's log until the agent reports, so nothing is lost when a push
 * fails or the connection is gone.
 */

/** Leaves room under API Gateway's 128 KB message limit. */
export const MAX_INLINE_INSTRUCTION_BYTES = 120 * 1024;

/** Agents are pushed to this many at a time when one dispatch reaches many runtimes. */
const PUSH_CONCURRENCY = 16;
/**
 * The pushes this container started, by instruction id (bounded): the evaluation that dispatches
 * pushes at once, the reactor a stream hop later, and whichever comes second waits for the first
 * instead of pushing again — or pushes itself if the first failed.
 */
const pushes = new Map<string, Promise<unknown>>();

async function pushOnce(
  deps: BackendDeps,
  instruction: EventData<"InstructionDispatched">,
  meta: Metadata,
  config: ConfigState,
): Promise<void> {
  const id = instruction.instructionId;
  const earlier = pushes.get(id);
  if (
    earlier &&
    (await earlier.then(
      () => true,
      () => false,
    ))
  )
    return;
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
    for (const i of byRuntime[n]!) await pushOnce(deps, i, meta, known);
  });
}

/** Pushes one instruction to the agent holding its runtime's lease, if one is connected. */
export async function pushInstruction(
  deps: BackendDeps,
  instruction: EventData<"InstructionDispatched">,
  meta: Metadata,
  config?: ConfigState,
): Promise<"sent" | "no-agent" | "gone"> {
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

/** Re-sends every instruction an agent's runtime has not finished, when that agent (re)connects. */
export async function resendUnfinished(deps: BackendDeps, agentRuntime: string, meta: Metadata): Promise<number> {
  const config = await readConfig(deps);
  let sent = 0;
  for (const app of listConfigs(config, "application")) {
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
          if ((await pushInstruction(deps, data, meta, config)) === "sent") sent++;
        }
      }
    }
  }
  loggerOf(deps).debug(`${agentRuntime}: ${sent} unfinished instruction(s) sent again`, { runtime: agentRuntime });
  return sent;
}
