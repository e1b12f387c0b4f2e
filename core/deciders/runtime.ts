import type { ClusterIdentity, DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { conflict, unauthorized } from "../errors.js";

/**
 * A runtime and the lease of its agent (stream `runtime#<name>`). At most one connection holds the
 * lease; each new lease gets a higher generation, and anything sent under an older generation is
 * refused (fencing). The agent token is known here only by its SHA-256.
 */

export type Lease = {
  connectionId: string;
  generation: number;
  agentVersion: string;
  /** When the lease was granted (leases granted before this was recorded have none). */
  connectedAt?: string;
};

/**
 * How long a connection may still be opening after its lease was granted: the lease is granted in
 * $connect, and API Gateway answers 410 to posts until $connect returns — up to its 29 s
 * integration timeout. A post that finds such a connection gone is retried, not taken for a loss.
 */
export const CONNECTION_OPENING_MS = 30_000;

/** Whether a lease's connection may still be in its $connect (so a 410 does not yet mean it is gone). */
export function mayStillBeOpening(lease: Lease, now: Date): boolean {
  return lease.connectedAt !== undefined && now.getTime() - Date.parse(lease.connectedAt) < CONNECTION_OPENING_MS;
}

export type RuntimeState = {
  token?: { tokenId: string; tokenHash: string; generation: number };
  /** An agent has connected with the current token (linking again starts over). */
  linked: boolean;
  /** The cluster the runtime is pinned to, with the server version its agent last reported. */
  cluster?: ClusterIdentity;
  lease?: Lease;
  /** The highest lease generation ever granted; never reused. */
  leaseGeneration: number;
};

export type RuntimeCommand =
  | { type: "IssueAgentToken"; runtime: string; tokenId: string; tokenHash: string }
  | {
      type: "ConnectAgent";
      runtime: string;
      connectionId: string;
      tokenHash: string;
      agentVersion: string;
      connectedAt: string;
      /** The cluster the agent says it runs in (agents before 1.1 say nothing). */
      cluster?: ClusterIdentity;
    }
  | { type: "DisconnectAgent"; runtime: string; connectionId: string; reason: string };

type RuntimeEvent =
  | EventOf<"AgentTokenIssued">
  | EventOf<"RuntimeLinked">
  | EventOf<"AgentConnected">
  | EventOf<"ClusterPinned">
  | EventOf<"AgentSuperseded">
  | EventOf<"AgentDisconnected">;

function decide(command: RuntimeCommand, state: RuntimeState): RuntimeEvent[] {
  switch (command.type) {
    case "IssueAgentToken": {
      const issued = event("AgentTokenIssued", {
        runtime: command.runtime,
        tokenId: command.tokenId,
        tokenHash: command.tokenHash,
        tokenGeneration: (state.token?.generation ?? 0) + 1,
      });
      // The connected agent authenticated with the token being replaced: rotating revokes its lease.
      if (!state.lease) return [issued];
      const { connectionId, generation } = state.lease;
      return [
        issued,
        event("AgentDisconnected", {
          runtime: command.runtime,
          connectionId,
          leaseGeneration: generation,
          reason: "agent token rotated",
        }),
      ];
    }
    case "ConnectAgent": {
      if (!state.token)
        throw unauthorized("agent.not_linked", `runtime "${command.runtime}" has no agent token; link it first`);
      if (!constantTimeEqual(state.token.tokenHash, command.tokenHash))
        throw unauthorized("agent.bad_token", "the agent token is not valid for this runtime");
      if (state.lease?.connectionId === command.connectionId) return [];
      if (state.cluster && state.cluster.id !== command.cluster?.id)
        throw conflict(
          "runtime.other_cluster",
          command.cluster
            ? `runtime "${command.runtime}" belongs to cluster ${state.cluster.id}; this agent runs in cluster ${command.cluster.id}. Link the runtime again to move it`
            : `runtime "${command.runtime}" belongs to cluster ${state.cluster.id}; this agent did not say which cluster it runs in (agents before 1.1 do not). Link the runtime again to move it`,
        );
      const generation = state.leaseGeneration + 1;
      const events: RuntimeEvent[] = [];
      if (!state.linked)
        events.push(
          event("RuntimeLinked", {
            runtime: command.runtime,
            connectionId: command.connectionId,
            agentVersion: command.agentVersion,
          }),
        );
      if (state.lease) {
        events.push(
          event("AgentSuperseded", {
            runtime: command.runtime,
            connectionId: state.lease.connectionId,
            leaseGeneration: state.lease.generation,
            supersededBy: command.connectionId,
          }),
        );
      }
      if (!state.cluster && command.cluster)
        events.push(
          event("ClusterPinned", {
            runtime: command.runtime,
            connectionId: command.connectionId,
            cluster: command.cluster,
          }),
        );
      events.push(
        event("AgentConnected", {
          runtime: command.runtime,
          connectionId: command.connectionId,
          leaseGeneration: generation,
          agentVersion: command.agentVersion,
          connectedAt: command.connectedAt,
          ...(command.cluster ? { cluster: command.cluster } : {}),
        }),
      );
      return events;
    }
    case "DisconnectAgent": {
      // $disconnect is best-effort and may arrive after a newer connection took over: only the
      // lease holder's disconnect means the runtime lost its agent.
      if (state.lease?.connectionId !== command.connectionId) return [];
      return [
        event("AgentDisconnected", {
          runtime: command.runtime,
          connectionId: command.connectionId,
          leaseGeneration: state.lease.generation,
          reason: command.reason,
        }),
      ];
    }
  }
}

/** Refuses a message from any connection but the current lease holder, at its generation. */
export function assertLeaseHolder(state: RuntimeState, connectionId: string, leaseGeneration?: number): Lease {
  const lease = state.lease;
  if (
    !lease ||
    lease.connectionId !== connectionId ||
    (leaseGeneration !== undefined && leaseGeneration !== lease.generation)
  ) {
    throw conflict(
      "agent.fenced",
      "this connection does not hold the runtime's lease (it was superseded or disconnected)",
    );
  }
  return lease;
}

/** Compares two hex digests without an early exit, so timing says nothing about the token. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

function evolve(state: RuntimeState, e: DomainEvent): RuntimeState {
  switch (e.type) {
    case "AgentTokenIssued": {
      // Linking again starts over: the next agent links the runtime, and pins the cluster it runs in.
      const { cluster: _unpinned, ...rest } = state;
      return {
        ...rest,
        linked: false,
        token: { tokenId: e.data.tokenId, tokenHash: e.data.tokenHash, generation: e.data.tokenGeneration },
      };
    }
    case "ClusterPinned":
      return { ...state, cluster: e.data.cluster };
    case "RuntimeLinked":
      return { ...state, linked: true };
    case "AgentConnected":
      return {
        ...state,
        lease: {
          connectionId: e.data.connectionId,
          generation: e.data.leaseGeneration,
          agentVersion: e.data.agentVersion,
          ...(e.data.connectedAt ? { connectedAt: e.data.connectedAt } : {}),
        },
        leaseGeneration: Math.max(state.leaseGeneration, e.data.leaseGeneration),
        // The pinned cluster's API server may have been upgraded since.
        ...(state.cluster && e.data.cluster?.id === state.cluster.id ? { cluster: e.data.cluster } : {}),
      };
    case "AgentSuperseded":
      return state;
    case "AgentDisconnected": {
      if (state.lease?.connectionId !== e.data.connectionId) return state;
      const { lease: _gone, ...rest } = state;
      return rest;
    }
    default:
      return state;
  }
}

export const runtimeDecider: Decider<RuntimeCommand, RuntimeState, RuntimeEvent> = {
  initialState: () => ({ linked: false, leaseGeneration: 0 }),
  evolve,
  decide,
};
