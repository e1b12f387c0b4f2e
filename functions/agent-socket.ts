import { createHash } from "node:crypto";
import { agentVersionProblem, AgentMessage, assertLeaseHolder, channelDecider, DomainError, getConfig, parseInstructionId, runtimeDecider, streams, zodIssues, type ErrorMessage } from "../core/index.js";
import type { Metadata } from "../events/index.js";
import { backendFromResources, nowOf, type BackendDeps } from "./adapters/backend.js";
import { handleCommand, readState } from "./adapters/command-handler.js";
import { ConcurrencyError } from "./adapters/event-store.js";
import { agentRuntimeOf, readConfig } from "./adapters/promoter.js";

/**
 * The agents' WebSocket API: $connect authenticates an agent and grants its runtime's lease,
 * $disconnect gives it up, and messages (ack, report, state, heartbeat) are validated, fenced by
 * the lease and turned into commands. An invalid message is answered with an error naming the
 * problem and otherwise ignored.
 */

type WsEvent = {
  requestContext: { connectionId: string; routeKey: string; disconnectReason?: string; disconnectStatusCode?: number };
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  body?: string;
};
type WsResult = { statusCode: number; body?: string };

const header = (event: WsEvent, name: string) => Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];

export type AgentSocketOptions = { supportedMinors?: number };

export function createAgentSocket(deps: BackendDeps, options: AgentSocketOptions = {}) {
  const meta = (connectionId: string): Metadata => ({ occurredAt: nowOf(deps).toISOString(), actor: { kind: "agent", id: connectionId }, correlationId: connectionId, causationId: connectionId });
  const refuse = (status: number, body: string, runtime?: string): WsResult => {
    deps.log?.(`agent connection refused (${status})${runtime ? ` for runtime ${runtime}` : ""}: ${body}`);
    return { statusCode: status, body };
  };

  async function connect(event: WsEvent): Promise<WsResult> {
    const { connectionId } = event.requestContext;
    const runtime = event.queryStringParameters?.runtime;
    if (!runtime) return refuse(400, "the runtime query parameter is required: connect to ?runtime=<name>");
    const token = /^Bearer\s+(\S+)$/i.exec(header(event, "authorization") ?? "")?.[1];
    if (!token) return refuse(401, "the Authorization header must carry the agent token: Bearer <token>", runtime);
    const config = await readConfig(deps);
    const runtimeConfig = getConfig(config, "runtime", runtime);
    if (!runtimeConfig) return refuse(404, `runtime "${runtime}" does not exist`, runtime);
    if (runtimeConfig.spec.extension) return refuse(404, `runtime "${runtime}" is an extension; its agent is the agent of proxy runtime "${runtimeConfig.spec.extension.proxyRuntime.runtime}"`, runtime);
    const version = header(event, "x-slipway-agent-version");
    const versionProblem = agentVersionProblem(version, undefined, options.supportedMinors);
    if (versionProblem) return refuse(426, versionProblem, runtime);
    try {
      const result = await handleCommand(deps.store, runtimeDecider, streams.runtime(runtime), { type: "ConnectAgent", runtime, connectionId, tokenHash: createHash("sha256").update(token).digest("hex"), agentVersion: version! }, meta(connectionId));
      const lease = result.state.lease!;
      await deps.readModels.putConnection({ connectionId, runtime, leaseGeneration: lease.generation, agentVersion: version!, connectedAt: nowOf(deps).toISOString() });
      return { statusCode: 200 };
    } catch (err) {
      if (err instanceof DomainError) return refuse(err.status, err.message, runtime);
      throw err;
    }
  }

  async function disconnect(event: WsEvent): Promise<WsResult> {
    const { connectionId } = event.requestContext;
    const connection = await deps.readModels.connection(connectionId);
    if (connection) {
      const reason = `disconnected (${event.requestContext.disconnectStatusCode ?? "?"}${event.requestContext.disconnectReason ? `: ${event.requestContext.disconnectReason}` : ""})`;
      await handleCommand(deps.store, runtimeDecider, streams.runtime(connection.runtime), { type: "DisconnectAgent", runtime: connection.runtime, connectionId, reason }, meta(connectionId));
      await deps.readModels.deleteConnection(connectionId);
    }
    return { statusCode: 200 };
  }

  async function message(event: WsEvent): Promise<WsResult> {
    const { connectionId } = event.requestContext;
    const reply = async (error: ErrorMessage) => {
      await deps.gateway.send(connectionId, error);
      return { statusCode: 200 };
    };
    let json: unknown;
    try {
      json = JSON.parse(event.body ?? "");
    } catch {
      return reply({ type: "error", code: "message.not_json", message: "messages must be JSON objects with an action: ack, report, state or heartbeat" });
    }
    const parsed = AgentMessage.safeParse(json);
    if (!parsed.success) return reply({ type: "error", code: "message.invalid", message: zodIssues(parsed.error).map((i) => i.message).join("; ") });
    const msg = parsed.data;
    const connection = await deps.readModels.connection(connectionId);
    if (!connection) return reply({ type: "error", code: "agent.unknown_connection", message: "this connection holds no lease; reconnect" });
    const runtimeState = (await readState(deps.store, runtimeDecider, streams.runtime(connection.runtime))).state;
    try {
      assertLeaseHolder(runtimeState, connectionId, msg.leaseGeneration);
    } catch (err) {
      if (err instanceof DomainError) return reply({ type: "error", code: err.code, message: err.message });
      throw err;
    }
    if (msg.action === "heartbeat") return { statusCode: 200 };
    if (msg.action === "state") {
      await deps.readModels.putObservedState({ runtime: connection.runtime, reportedAt: nowOf(deps).toISOString(), leaseGeneration: runtimeState.lease!.generation, services: msg.services });
      return { statusCode: 200 };
    }

    const target = parseInstructionId(msg.instructionId);
    const config = await readConfig(deps);
    if (!target) return reply({ type: "error", code: "instruction.not_found", message: `instruction ${msg.instructionId} does not exist`, instructionId: msg.instructionId });
    if (agentRuntimeOf(config, target.runtime) !== connection.runtime)
      return reply({ type: "error", code: "instruction.wrong_runtime", message: `instruction ${msg.instructionId} is not for runtime "${connection.runtime}"`, instructionId: msg.instructionId });
    const stream = streams.channel(target.application, target.channel);
    try {
      if (msg.action === "ack") {
        await handleCommand(deps.store, channelDecider, stream, { type: "AcknowledgeInstruction", instructionId: msg.instructionId, runtime: target.runtime, connectionId, leaseGeneration: runtimeState.lease!.generation }, meta(connectionId));
      } else {
        await handleCommand(deps.store, channelDecider, stream, { type: "ReportApply", instructionId: msg.instructionId, runtime: target.runtime, outcome: msg.status, ...(msg.message ? { message: msg.message } : {}), now: nowOf(deps).toISOString() }, meta(connectionId));
      }
    } catch (err) {
      if (err instanceof DomainError) return reply({ type: "error", code: err.code, message: err.message, instructionId: msg.instructionId });
      // Still contended after every retry: say so, and the agent sends the report again.
      if (err instanceof ConcurrencyError) return reply({ type: "error", code: err.code, message: "the report could not be recorded yet; send it again", instructionId: msg.instructionId });
      throw err;
    }
    return { statusCode: 200 };
  }

  return { connect, disconnect, message };
}

let socket: ReturnType<typeof createAgentSocket> | undefined;
const instance = () => (socket ??= createAgentSocket(backendFromResources(), { supportedMinors: Number(process.env.SLIPWAY_AGENT_SUPPORTED_MINORS ?? 3) }));
export const connect = (event: WsEvent) => instance().connect(event);
export const disconnect = (event: WsEvent) => instance().disconnect(event);
export const message = (event: WsEvent) => instance().message(event);
