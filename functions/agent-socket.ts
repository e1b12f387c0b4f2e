import type { Metadata } from "../events/index.js";
import type { AgentSocketEvent, AgentSocketResult } from "./adapters/lambda-events.js";
import { connectAgent, disconnectAgent, receiveAgentMessage, type AgentOptions } from "./services/agents.js";
import { bearerToken } from "./services/credentials.js";
import { loggerOf, nowOf, type BackendDeps } from "./services/deps.js";
import { backendFromResources } from "./wiring.js";

/**
 * The agents' WebSocket API: $connect authenticates an agent and grants its runtime's lease,
 * $disconnect gives it up, and every message (ack, report, state, heartbeat) goes to the agent
 * service, which answers a bad one with an error naming the problem.
 */

const header = (event: AgentSocketEvent, name: string) =>
  Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];

export function createAgentSocket(deps: BackendDeps, options: AgentOptions = {}) {
  const logger = loggerOf(deps).child({ component: "agents" });
  // An agent's events are correlated by its connection; the instruction ids they name lead to the release.
  const on = (connectionId: string): BackendDeps => ({ ...deps, logger: logger.child({ connectionId }) });
  const meta = (connectionId: string): Metadata => ({
    occurredAt: nowOf(deps).toISOString(),
    actor: { kind: "agent", id: connectionId },
    correlationId: connectionId,
    causationId: connectionId,
  });

  async function connect(event: AgentSocketEvent): Promise<AgentSocketResult> {
    const { connectionId } = event.requestContext;
    const runtime = event.queryStringParameters?.runtime;
    const request = {
      connectionId,
      runtime,
      bearer: bearerToken(header(event, "authorization")),
      agentVersion: header(event, "x-slipway-agent-version"),
      clusterId: header(event, "x-slipway-cluster-id"),
      clusterVersion: header(event, "x-slipway-cluster-version"),
    };
    const refusal = await connectAgent(on(connectionId), request, meta(connectionId), options);
    if (!refusal) return { statusCode: 200 };
    logger.warn(
      `agent connection refused (${refusal.status})${runtime ? ` for runtime ${runtime}` : ""}: ${refusal.reason}`,
      {
        connectionId,
        ...(runtime ? { runtime } : {}),
      },
    );
    return { statusCode: refusal.status, body: refusal.reason };
  }

  async function disconnect(event: AgentSocketEvent): Promise<AgentSocketResult> {
    const { connectionId, disconnectStatusCode, disconnectReason } = event.requestContext;
    await disconnectAgent(
      on(connectionId),
      connectionId,
      `disconnected (${disconnectStatusCode ?? "?"}${disconnectReason ? `: ${disconnectReason}` : ""})`,
      meta(connectionId),
    );
    return { statusCode: 200 };
  }

  async function message(event: AgentSocketEvent): Promise<AgentSocketResult> {
    const { connectionId } = event.requestContext;
    await receiveAgentMessage(on(connectionId), connectionId, event.body, meta(connectionId));
    return { statusCode: 200 };
  }

  return { connect, disconnect, message };
}

let socket: ReturnType<typeof createAgentSocket> | undefined;
const instance = () =>
  (socket ??= createAgentSocket(backendFromResources(), {
    supportedMinors: Number(process.env.SLIPWAY_AGENT_SUPPORTED_MINORS ?? 3),
  }));
export const connect = (event: AgentSocketEvent) => instance().connect(event);
export const disconnect = (event: AgentSocketEvent) => instance().disconnect(event);
export const message = (event: AgentSocketEvent) => instance().message(event);
