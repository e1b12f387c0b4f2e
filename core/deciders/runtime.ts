import type { ClusterIdentity, DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { conflict, unauthorized } from "../errors.js";

/**
 * A runtime and the lease of its agent (stream `runtime#<name>`). At most one connection holds the
 * lease; each new lease gets a higher generation, and anything sent under an older generation is
 * refused (fencing). The agent token is known here only by its SHA-256.
 *
 * Linking issues a fresh token and voids every other at once. Rotating issues one while the
 * previous token stays accepted until the overlap ends — for new connections, payload fetches,
 * and the messages of a connection that authenticated with it — so an agent restarted with the
 * new token takes over without the runtime dropping. Revoking voids tokens at once.
 */

export type Lease = {
  connectionId: string;
  generation: number;
  agentVersion: string;
  /** When the lease was granted (leases granted before this was recorded have none). */
  connectedAt?: string;
  /** The generation of the agent token the connection authenticated with. */
  tokenGeneration?: number;
};

export type AgentToken = { tokenId: string; tokenHash: string; generation: number };

/**
 * Why the server itself ended a lease (the `reason` of its AgentDisconnected), and the error code
 * the connection is told before it is closed.
 */
export const LEASE_ENDINGS = {
  /** Linking again: a fresh token, the old one void at once. */
  relinked: {
    reason: "agent token rotated",
    code: "agent.token_rotated",
    notice: (runtime: string) => `the agent token of runtime "${runtime}" was rotated; reconnect with the new token`,
  },
  /** Every token of the runtime revoked. */
  revoked: {
    reason: "agent tokens revoked",
    code: "agent.token_revoked",
    notice: (runtime: string) => `the agent tokens of runtime "${runtime}" were revoked; it must be linked again`,
  },
  /** The previous token revoked, ending a rotation's overlap early. */
  previousRevoked: {
    reason: "previous agent token revoked",
    code: "agent.token_revoked",
    notice: (runtime: string) =>
      `the agent token this connection authenticated with (the previous token of runtime "${runtime}") was revoked; reconnect with the new token`,
  },
  /** The token the connection authenticated with is no longer accepted: its overlap ended. */
  expired: {
    reason: "agent token expired",
    code: "agent.token_expired",
    notice: (runtime: string) =>
      `the agent token this connection authenticated with is no longer accepted (a rotation of runtime "${runtime}" replaced it and its overlap ended); reconnect with the new token`,
  },
} as const;
export type LeaseEnding = (typeof LEASE_ENDINGS)[keyof typeof LEASE_ENDINGS];

/** The ending an AgentDisconnected reason names, if the server ended the lease itself. */
export function leaseEnding(reason: string): LeaseEnding | undefined {
  return Object.values(LEASE_ENDINGS).find((e) => e.reason === reason);
}

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
  token?: AgentToken;
  /**
   * The token a rotation replaced: still accepted until `validUntil` (time arrives in commands, so
   * it is kept after that and judged against their `now`).
   */
  previousToken?: AgentToken & { validUntil: string };
  /** When the current token came from a rotation (absent after a link). */
  tokenRotatedAt?: string;
  /** Every token was revoked: nothing is accepted until the runtime is linked again. */
  revoked?: boolean;
  /** The agent image repository and namespace the last link's install YAML used, if recorded. */
  agentImage?: string;
  agentNamespace?: string;
  /** An agent has connected with a token issued since the last link (rotating keeps it; linking again starts over). */
  linked: boolean;
  /** The cluster the runtime is pinned to, with the server version its agent last reported. */
  cluster?: ClusterIdentity;
  lease?: Lease;
  /** The highest lease generation ever granted; never reused. */
  leaseGeneration: number;
};

export type RuntimeCommand =
  | {
      type: "IssueAgentToken";
      runtime: string;
      tokenId: string;
      tokenHash: string;
      /** The repository of the agent image the install YAML runs, and its namespace. */
      agentImage?: string;
      agentNamespace?: string;
    }
  | {
      type: "RotateAgentToken";
      runtime: string;
      tokenId: string;
      tokenHash: string;
      now: string;
      /** How long the replaced token is still accepted. */
      overlapSeconds: number;
    }
  | { type: "RevokeAgentTokens"; runtime: string; scope: "all" | "previous"; now: string }
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
  | EventOf<"AgentTokenRotated">
  | EventOf<"AgentTokensRevoked">
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
        tokenGeneration: nextTokenGeneration(state),
        ...(command.agentImage ? { agentImage: command.agentImage } : {}),
        ...(command.agentNamespace ? { agentNamespace: command.agentNamespace } : {}),
      });
      // The connected agent authenticated with a token being voided: linking again revokes its lease.
      if (!state.lease) return [issued];
      return [issued, endLease(command.runtime, state.lease, LEASE_ENDINGS.relinked)];
    }
    case "RotateAgentToken": {
      const current = state.token;
      if (!current)
        throw conflict(
          "runtime.not_linked",
          state.revoked
            ? `the agent tokens of runtime "${command.runtime}" were revoked; link it again`
            : `runtime "${command.runtime}" has no agent token to rotate; link it first`,
        );
      // The token kept accepted is the one the connected agent uses: the current one — or, when an
      // earlier rotation's overlap still runs and the agent has not switched yet, that previous one
      // (so rotating twice, or retrying a rotation, never drops the agent). No agent: the current one.
      const lease = state.lease;
      const leaseToken = lease ? tokenOf(state, lease) : undefined;
      const previous = state.previousToken;
      const kept =
        previous && lease && previous.generation === leaseToken && leaseTokenValid(state, lease, command.now)
          ? previous
          : current;
      const rotated = event("AgentTokenRotated", {
        runtime: command.runtime,
        tokenId: command.tokenId,
        tokenHash: command.tokenHash,
        tokenGeneration: nextTokenGeneration(state),
        rotatedAt: command.now,
        previousTokenId: kept.tokenId,
        previousTokenGeneration: kept.generation,
        previousTokenValidUntil: new Date(Date.parse(command.now) + command.overlapSeconds * 1000).toISOString(),
      });
      // The lease stays — unless its token is neither of the two accepted from now on (an earlier
      // rotation's previous token, after its overlap ended).
      if (!lease || leaseToken === kept.generation) return [rotated];
      return [rotated, endLease(command.runtime, lease, LEASE_ENDINGS.expired)];
    }
    case "RevokeAgentTokens": {
      const previous =
        state.previousToken && before(command.now, state.previousToken.validUntil) ? state.previousToken : undefined;
      const revoked = command.scope === "all" ? [state.token, previous] : [previous];
      const tokens = revoked.flatMap((t) => (t ? [{ tokenId: t.tokenId, tokenGeneration: t.generation }] : []));
      // Nothing left to revoke (revoked already, never linked, or no overlap running): nothing happens.
      if (!tokens.length) return [];
      const events: RuntimeEvent[] = [
        event("AgentTokensRevoked", { runtime: command.runtime, scope: command.scope, tokens, revokedAt: command.now }),
      ];
      const lease = state.lease;
      if (lease && (command.scope === "all" || tokenOf(state, lease) === previous?.generation))
        events.push(
          endLease(
            command.runtime,
            lease,
            command.scope === "all" ? LEASE_ENDINGS.revoked : LEASE_ENDINGS.previousRevoked,
          ),
        );
      return events;
    }
    case "ConnectAgent": {
      const tokenGeneration = authenticateAgent(state, command.runtime, command.tokenHash, command.connectedAt);
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
          tokenGeneration,
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

function nextTokenGeneration(state: RuntimeState): number {
  return Math.max(state.token?.generation ?? 0, state.previousToken?.generation ?? 0) + 1;
}

/** The generation of the token a lease's connection authenticated with. */
function tokenOf(state: RuntimeState, lease: Lease): number | undefined {
  return lease.tokenGeneration ?? state.token?.generation;
}

function endLease(runtime: string, lease: Lease, ending: LeaseEnding): EventOf<"AgentDisconnected"> {
  return event("AgentDisconnected", {
    runtime,
    connectionId: lease.connectionId,
    leaseGeneration: lease.generation,
    reason: ending.reason,
  });
}

/**
 * Which of the runtime's tokens an agent presented (by its SHA-256), at `now`: the current one, or
 * the previous one while a rotation's overlap lasts. Returns the token's generation; refuses any
 * other with a code saying why. Every check of an agent token goes through here.
 */
export function authenticateAgent(state: RuntimeState, runtime: string, tokenHash: string, now: string): number {
  if (!state.token) {
    if (state.revoked)
      throw unauthorized("agent.token_revoked", `the agent tokens of runtime "${runtime}" were revoked; link it again`);
    throw unauthorized("agent.not_linked", `runtime "${runtime}" has no agent token; link it first`);
  }
  if (constantTimeEqual(state.token.tokenHash, tokenHash)) return state.token.generation;
  const previous = state.previousToken;
  if (previous && constantTimeEqual(previous.tokenHash, tokenHash)) {
    if (before(now, previous.validUntil)) return previous.generation;
    throw unauthorized(
      "agent.token_expired",
      `the agent token of runtime "${runtime}" was replaced by a rotation and is no longer accepted (since ${previous.validUntil}); use the new token`,
    );
  }
  throw unauthorized("agent.bad_token", "the agent token is not valid for this runtime");
}

/**
 * Refuses a message from any connection but the current lease holder, at its generation — and,
 * given `now`, from a lease holder whose token is no longer accepted (it authenticated with the
 * previous token of a rotation whose overlap has ended).
 */
export function assertLeaseHolder(
  state: RuntimeState,
  connectionId: string,
  leaseGeneration?: number,
  now?: string,
): Lease {
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
  if (now !== undefined && !leaseTokenValid(state, lease, now))
    throw unauthorized(
      "agent.token_expired",
      "this connection authenticated with an agent token that is no longer accepted (the overlap of a rotation ended); reconnect with the new token",
    );
  return lease;
}

/** Whether the token a lease's connection authenticated with is still accepted at `now`. */
export function leaseTokenValid(state: RuntimeState, lease: Lease, now: string): boolean {
  const generation = tokenOf(state, lease);
  if (generation === undefined) return false;
  if (generation === state.token?.generation) return true;
  const previous = state.previousToken;
  return previous?.generation === generation && before(now, previous.validUntil);
}

/** The running overlap of a rotation at `now`: when it began and until when the previous token is accepted. */
export function tokenOverlap(
  state: RuntimeState,
  now: string,
): { tokenRotatedAt: string; previousTokenValidUntil: string } | undefined {
  const previous = state.previousToken;
  if (!previous || !state.tokenRotatedAt || !before(now, previous.validUntil)) return undefined;
  return { tokenRotatedAt: state.tokenRotatedAt, previousTokenValidUntil: previous.validUntil };
}

/** Whether instant `a` is before instant `b` (both ISO 8601). */
const before = (a: string, b: string) => Date.parse(a) < Date.parse(b);

/** Compares two hex digests without an early exit, so timing says nothing about the token. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

/**
 * What an event of a runtime's stream makes of `linked`, or undefined when it leaves it as it was:
 * a new token unlinks until an agent registers, revoking every token unlinks, the agent's first
 * registration links. The projector keeps a runtime's `linked` from this alone (evolve agrees).
 */
export function linkedAfter(e: DomainEvent): boolean | undefined {
  if (e.type === "AgentTokenIssued") return false;
  if (e.type === "AgentTokensRevoked") return e.data.scope === "previous" ? undefined : false;
  if (e.type === "RuntimeLinked") return true;
  return undefined;
}

function evolve(state: RuntimeState, e: DomainEvent): RuntimeState {
  switch (e.type) {
    case "AgentTokenIssued": {
      // Linking again starts over: the next agent links the runtime, and pins the cluster it runs in.
      const {
        cluster: _unpinned,
        previousToken: _void,
        tokenRotatedAt: _rotated,
        revoked: _revoked,
        agentImage: _image,
        agentNamespace: _namespace,
        ...rest
      } = state;
      return {
        ...rest,
        linked: false,
        token: { tokenId: e.data.tokenId, tokenHash: e.data.tokenHash, generation: e.data.tokenGeneration },
        ...(e.data.agentImage ? { agentImage: e.data.agentImage } : {}),
        ...(e.data.agentNamespace ? { agentNamespace: e.data.agentNamespace } : {}),
      };
    }
    case "AgentTokenRotated": {
      // The runtime stays linked and pinned; the token kept is accepted until the overlap ends.
      const kept = [state.token, state.previousToken].find((t) => t?.generation === e.data.previousTokenGeneration);
      if (!kept) return state;
      return {
        ...state,
        previousToken: {
          tokenId: kept.tokenId,
          tokenHash: kept.tokenHash,
          generation: kept.generation,
          validUntil: e.data.previousTokenValidUntil,
        },
        token: { tokenId: e.data.tokenId, tokenHash: e.data.tokenHash, generation: e.data.tokenGeneration },
        tokenRotatedAt: e.data.rotatedAt,
      };
    }
    case "AgentTokensRevoked": {
      if (e.data.scope === "previous") {
        const previous = state.previousToken;
        if (!previous) return state;
        const validUntil = before(e.data.revokedAt, previous.validUntil) ? e.data.revokedAt : previous.validUntil;
        return { ...state, previousToken: { ...previous, validUntil } };
      }
      // Like a runtime never linked, but saying why: the next agent needs a new link.
      const { token: _t, previousToken: _p, tokenRotatedAt: _r, cluster: _c, ...rest } = state;
      return { ...rest, linked: false, revoked: true };
    }
    case "ClusterPinned":
      return { ...state, cluster: e.data.cluster };
    case "RuntimeLinked":
      return { ...state, linked: true };
    case "AgentConnected": {
      // Before the token's generation was recorded, only the current token was ever accepted.
      const tokenGeneration = e.data.tokenGeneration ?? state.token?.generation;
      return {
        ...state,
        lease: {
          connectionId: e.data.connectionId,
          generation: e.data.leaseGeneration,
          agentVersion: e.data.agentVersion,
          ...(e.data.connectedAt ? { connectedAt: e.data.connectedAt } : {}),
          ...(tokenGeneration !== undefined ? { tokenGeneration } : {}),
        },
        leaseGeneration: Math.max(state.leaseGeneration, e.data.leaseGeneration),
        // The pinned cluster's API server may have been upgraded since.
        ...(state.cluster && e.data.cluster?.id === state.cluster.id ? { cluster: e.data.cluster } : {}),
      };
    }
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
