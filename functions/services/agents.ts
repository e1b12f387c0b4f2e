import {
  agentVersionProblem,
  AgentMessage,
  assertLeaseHolder,
  channelDecider,
  deliveryDecider,
  DomainError,
  getConfig,
  instructionFor,
  LEASE_ENDINGS,
  leaseEnding,
  parseInstructionId,
  runtimeDecider,
  streams,
  zodIssues,
  type ChannelState,
  type ErrorMessage,
} from "../../core/index.js";
import { ClusterIdentity, type EventData, type Metadata } from "../../events/index.js";
import { ConcurrencyError } from "../adapters/event-store.js";
import type { AgentConnection } from "../adapters/read-models.js";
import { handleCommand, knownState, readState } from "./commands.js";
import { agentRuntimeOf, readConfig } from "./config.js";
import { countSuccess } from "./convergence.js";
import { sha256, type BearerToken } from "./credentials.js";
import { loggerOf, nowOf, type BackendDeps } from "./deps.js";

/**
 * The agents' side of Slipway: an agent connects with its runtime's token and takes the runtime's
 * lease; its messages (ack, report, state, heartbeat) are fenced by that lease and become
 * commands; a connection that lost its lease is told why and closed.
 */

export type ConnectRequest = {
  connectionId: string;
  runtime: string | undefined;
  bearer: BearerToken;
  agentVersion: string | undefined;
  /** The cluster the agent runs in (its kube-system namespace UID) and the API server's version. */
  clusterId?: string | undefined;
  clusterVersion?: string | undefined;
};
/** Why a connection is refused: the status the handshake answers with, and a sentence. */
export type Refusal = { status: number; reason: string };

export type AgentOptions = { supportedMinors?: number };

/** Authenticates an agent and grants it its runtime's lease, or says why not. */
export async function connectAgent(
  deps: BackendDeps,
  request: ConnectRequest,
  meta: Metadata,
  options: AgentOptions = {},
): Promise<Refusal | undefined> {
  const { connectionId, runtime, bearer, agentVersion } = request;
  if (!runtime) return { status: 400, reason: "the runtime query parameter is required: connect to ?runtime=<name>" };
  if ("problem" in bearer)
    return { status: 401, reason: "the Authorization header must carry the agent token: Bearer <token>" };
  const runtimeConfig = getConfig(await readConfig(deps), "runtime", runtime);
  if (!runtimeConfig) return { status: 404, reason: `runtime "${runtime}" does not exist` };
  if (runtimeConfig.spec.extension)
    return {
      status: 404,
      reason: `runtime "${runtime}" is an extension; its agent is the agent of proxy runtime "${runtimeConfig.spec.extension.proxyRuntime.runtime}"`,
    };
  const versionProblem = agentVersionProblem(agentVersion, undefined, options.supportedMinors);
  if (versionProblem || !agentVersion)
    return { status: 426, reason: versionProblem ?? "the X-Slipway-Agent-Version header is missing" };
  const cluster = ClusterIdentity.safeParse({
    id: request.clusterId,
    ...(request.clusterVersion ? { serverVersion: request.clusterVersion } : {}),
  });
  if (request.clusterId !== undefined && !cluster.success)
    return {
      status: 400,
      reason: `the X-Slipway-Cluster-Id and X-Slipway-Cluster-Version headers must carry the kube-system namespace UID and the API server's version: ${cluster.error.issues
        .map((i) => `${i.path.join(".") === "id" ? "X-Slipway-Cluster-Id" : "X-Slipway-Cluster-Version"} ${i.message}`)
        .join("; ")}`,
    };
  try {
    const result = await handleCommand(
      deps.store,
      runtimeDecider,
      streams.runtime(runtime),
      {
        type: "ConnectAgent",
        runtime,
        connectionId,
        tokenHash: sha256(bearer.token),
        agentVersion,
        connectedAt: meta.occurredAt,
        ...(cluster.success ? { cluster: cluster.data } : {}),
      },
      meta,
    );
    const lease = result.state.lease!;
    await deps.readModels.putConnection({
      connectionId,
      runtime,
      leaseGeneration: lease.generation,
      agentVersion,
      connectedAt: nowOf(deps).toISOString(),
    });
    return undefined;
  } catch (err) {
    if (err instanceof DomainError) return { status: err.status, reason: err.message };
    throw err;
  }
}

/**
 * Which runtime each connection speaks for, as $connect recorded it. That never changes for a
 * connection, so a container keeps what it read (the newest MAX_KNOWN_CONNECTIONS): one read per
 * connection instead of one per message. Every message is still fenced by its runtime's lease,
 * read fresh, so a connection that has lost it is refused whatever is kept here.
 */
const knownConnections = new WeakMap<BackendDeps["readModels"], Map<string, AgentConnection>>();
const MAX_KNOWN_CONNECTIONS = 5000;

async function connectionOf(deps: BackendDeps, connectionId: string): Promise<AgentConnection | undefined> {
  let known = knownConnections.get(deps.readModels);
  if (!known) knownConnections.set(deps.readModels, (known = new Map<string, AgentConnection>()));
  const kept = known.get(connectionId);
  if (kept) return kept;
  const connection = await deps.readModels.connection(connectionId);
  if (!connection) return undefined;
  known.set(connectionId, connection);
  if (known.size > MAX_KNOWN_CONNECTIONS) known.delete(known.keys().next().value!);
  return connection;
}

/** The connection is gone ($disconnect, best effort): its runtime's lease is given up. */
export async function disconnectAgent(
  deps: BackendDeps,
  connectionId: string,
  reason: string,
  meta: Metadata,
): Promise<void> {
  knownConnections.get(deps.readModels)?.delete(connectionId);
  const connection = await deps.readModels.connection(connectionId);
  if (!connection) return;
  await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(connection.runtime),
    { type: "DisconnectAgent", runtime: connection.runtime, connectionId, reason },
    meta,
  );
  await deps.readModels.deleteConnection(connectionId);
}

/**
 * One message from an agent. An invalid or refused message is answered with an error naming the
 * problem and otherwise changes nothing.
 */
export async function receiveAgentMessage(
  deps: BackendDeps,
  connectionId: string,
  body: string | undefined,
  meta: Metadata,
): Promise<void> {
  const error = await decideAgentMessage(deps, connectionId, body, meta);
  if (!error) return;
  // The agent is told; the log says so too, since a refused report leaves its instruction unfinished.
  const target = error.instructionId ? parseInstructionId(error.instructionId) : undefined;
  loggerOf(deps).warn(`agent message refused: ${error.code}: ${error.message}`, {
    ...(error.instructionId ? { instructionId: error.instructionId } : {}),
    ...(target ? { releaseId: target.releaseId, channel: target.channel, runtime: target.runtime } : {}),
  });
  // A connection whose token is no longer accepted is served no more: its lease ends (first, so the
  // log says why), it is told, and it is closed.
  const expired = error.code === LEASE_ENDINGS.expired.code;
  if (expired) await disconnectAgent(deps, connectionId, LEASE_ENDINGS.expired.reason, meta);
  await deps.gateway.send(connectionId, error);
  if (expired) await deps.gateway.close(connectionId);
}

async function decideAgentMessage(
  deps: BackendDeps,
  connectionId: string,
  body: string | undefined,
  meta: Metadata,
): Promise<ErrorMessage | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(body ?? "");
  } catch {
    return {
      type: "error",
      code: "message.not_json",
      message: "messages must be JSON objects with an action: ack, report, state or heartbeat",
    };
  }
  const parsed = AgentMessage.safeParse(json);
  if (!parsed.success)
    return {
      type: "error",
      code: "message.invalid",
      message: zodIssues(parsed.error)
        .map((i) => i.message)
        .join("; "),
    };
  const msg = parsed.data;
  const connection = await connectionOf(deps, connectionId);
  if (!connection)
    return { type: "error", code: "agent.unknown_connection", message: "this connection holds no lease; reconnect" };
  const runtimeState = (await readState(deps.store, runtimeDecider, streams.runtime(connection.runtime))).state;
  try {
    assertLeaseHolder(runtimeState, connectionId, msg.leaseGeneration, nowOf(deps).toISOString());
  } catch (err) {
    if (err instanceof DomainError) return { type: "error", code: err.code, message: err.message };
    throw err;
  }
  const lease = runtimeState.lease!;
  if (msg.action === "heartbeat") return undefined;
  if (msg.action === "state") {
    await deps.readModels.putObservedState({
      runtime: connection.runtime,
      reportedAt: nowOf(deps).toISOString(),
      leaseGeneration: lease.generation,
      services: msg.services,
    });
    return undefined;
  }

  const target = parseInstructionId(msg.instructionId);
  if (!target)
    return {
      type: "error",
      code: "instruction.not_found",
      message: `instruction ${msg.instructionId} does not exist`,
      instructionId: msg.instructionId,
    };
  // An instruction for the agent's own runtime needs no config read; one for another runtime is
  // this agent's only if that runtime is an extension it is the proxy of.
  if (
    target.runtime !== connection.runtime &&
    agentRuntimeOf(await readConfig(deps), target.runtime) !== connection.runtime
  )
    return {
      type: "error",
      code: "instruction.wrong_runtime",
      message: `instruction ${msg.instructionId} is not for runtime "${connection.runtime}"`,
      instructionId: msg.instructionId,
    };
  const { application, channel } = target;
  const channelStream = streams.channel(application, channel);
  try {
    // The channel says whether the instruction exists and is this runtime's; the runtime's delivery
    // stream records how it is getting on — apart from every other runtime's, so none contend. An
    // instruction, once dispatched, stays in the channel's log: an ack or `applying` for one this
    // container has seen needs no read. A success is judged against the channel as it is now.
    const seen =
      msg.action === "ack" || msg.status === "applying"
        ? knownState<ChannelState>(deps.store, channelDecider, channelStream)
        : undefined;
    const channelState = seen?.instructions[msg.instructionId]
      ? seen
      : (await readState(deps.store, channelDecider, channelStream)).state;
    const instruction = instructionFor(channelState, msg.instructionId, target.runtime);
    const reported = {
      instructionId: instruction.instructionId,
      runtime: instruction.runtime,
      service: instruction.service,
      releaseId: instruction.releaseId,
    };
    const delivery = streams.delivery(application, channel, instruction.runtime);
    if (msg.action === "ack") {
      await handleCommand(
        deps.store,
        deliveryDecider,
        delivery,
        { type: "AcknowledgeInstruction", ...reported, connectionId, leaseGeneration: lease.generation },
        meta,
      );
    } else if (msg.status === "failed") {
      // A failure stops the channel's promotion: it is the channel's to record — unless the
      // instruction already succeeded (a late or confused report changes nothing).
      const { state } = await readState(deps.store, deliveryDecider, delivery);
      if (state.statuses[instruction.instructionId] !== "succeeded")
        await handleCommand(
          deps.store,
          channelDecider,
          channelStream,
          {
            type: "ReportApplyFailure",
            instructionId: msg.instructionId,
            runtime: target.runtime,
            ...(msg.message ? { message: msg.message } : {}),
          },
          meta,
        );
    } else {
      const { events } = await handleCommand(
        deps.store,
        deliveryDecider,
        delivery,
        { type: "ReportProgress", ...reported, outcome: msg.status, ...(msg.message ? { message: msg.message } : {}) },
        meta,
      );
      if (events.some((e) => e.type === "ApplySucceeded"))
        await countSuccess(deps, { application, channel, ...reported }, meta, channelState);
    }
  } catch (err) {
    // Still contended after every retry: say so, and the agent sends the report again.
    if (err instanceof ConcurrencyError)
      return {
        type: "error",
        code: err.code,
        message: "the report could not be recorded yet; send it again",
        instructionId: msg.instructionId,
      };
    if (err instanceof DomainError)
      return { type: "error", code: err.code, message: err.message, instructionId: msg.instructionId };
    throw err;
  }
  return undefined;
}

/**
 * A connection lost its lease to a newer agent, or because the server ended it (linked again,
 * tokens revoked, its token's overlap ended): tell it why, then close it.
 */
export async function closeReplacedConnection(
  deps: BackendDeps,
  replaced: { superseded: EventData<"AgentSuperseded"> } | { disconnected: EventData<"AgentDisconnected"> },
): Promise<void> {
  let notice: ErrorMessage;
  let connectionId: string;
  if ("superseded" in replaced) {
    const { runtime, supersededBy } = replaced.superseded;
    connectionId = replaced.superseded.connectionId;
    notice = {
      type: "error",
      code: "agent.superseded",
      message: `another agent connection (${supersededBy}) took over runtime "${runtime}"`,
    };
  } else {
    const ending = leaseEnding(replaced.disconnected.reason);
    // The agent left, or its connection is gone: there is no one to tell.
    if (!ending) return;
    connectionId = replaced.disconnected.connectionId;
    notice = { type: "error", code: ending.code, message: ending.notice(replaced.disconnected.runtime) };
  }
  if ((await deps.gateway.send(connectionId, notice)) === "sent") await deps.gateway.close(connectionId);
}
