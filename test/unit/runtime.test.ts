import { describe, expect, it } from "vitest";
import {
  agentUpgradeAvailable,
  assertLeaseHolder,
  authenticateAgent,
  CURRENT_AGENT_VERSION,
  DomainError,
  fold,
  imageRepository,
  leaseTokenValid,
  linkedAfter,
  mayStillBeOpening,
  runtimeDecider,
  tokenOverlap,
  type RuntimeCommand,
} from "../../core/index.js";
import { refusal, specFor } from "../support/spec.js";

const spec = specFor(runtimeDecider);
type E = Parameters<typeof spec>[0][number];

const HASH = "a".repeat(64);
const AT = "2026-12-04T10:00:00.000Z";
const OTHER = "b".repeat(64);
const issued = (generation = 1, hash = HASH): E => ({
  type: "AgentTokenIssued",
  data: { runtime: "k8s", tokenId: `t${generation}`, tokenHash: hash, tokenGeneration: generation },
});
const connect = (connectionId: string, tokenHash = HASH): RuntimeCommand => ({
  type: "ConnectAgent",
  runtime: "k8s",
  connectionId,
  tokenHash,
  agentVersion: "1.2.0",
  connectedAt: AT,
});
const linked: E = { type: "RuntimeLinked", data: { runtime: "k8s", connectionId: "c1", agentVersion: "1.2.0" } };
const connected = (connectionId: string, leaseGeneration: number, tokenGeneration = 1): E => ({
  type: "AgentConnected",
  data: { runtime: "k8s", connectionId, leaseGeneration, agentVersion: "1.2.0", connectedAt: AT, tokenGeneration },
});

describe("runtime decider", () => {
  it("issues agent tokens with increasing generations", () => {
    spec([])
      .when({ type: "IssueAgentToken", runtime: "k8s", tokenId: "t1", tokenHash: HASH })
      .then([issued(1)]);
    spec([issued(1)])
      .when({ type: "IssueAgentToken", runtime: "k8s", tokenId: "t2", tokenHash: OTHER })
      .then([issued(2, OTHER)]);
  });

  it("revokes the connected agent's lease when the runtime is linked again", () => {
    spec([issued(1), linked, connected("c1", 1)])
      .when({ type: "IssueAgentToken", runtime: "k8s", tokenId: "t2", tokenHash: OTHER })
      .then([
        issued(2, OTHER),
        {
          type: "AgentDisconnected",
          data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, reason: "agent token rotated" },
        },
      ]);
  });

  it("links the runtime when its first agent connects, and grants it the lease", () => {
    spec([issued()])
      .when(connect("c1"))
      .then([linked, connected("c1", 1)]);
  });

  it("hands the lease to a newer connection and supersedes the old one", () => {
    spec([issued(), linked, connected("c1", 1)])
      .when(connect("c2"))
      .then([
        {
          type: "AgentSuperseded",
          data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, supersededBy: "c2" },
        },
        connected("c2", 2),
      ]);
  });

  it("never reuses a lease generation, even after a disconnect", () => {
    const gone: E = {
      type: "AgentDisconnected",
      data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, reason: "closed" },
    };
    spec([issued(), linked, connected("c1", 1), gone])
      .when(connect("c2"))
      .then([connected("c2", 2)]);
  });

  it("does nothing when the lease holder connects again", () => {
    spec([issued(), linked, connected("c1", 1)])
      .when(connect("c1"))
      .thenNothing();
  });

  describe("cluster identity", () => {
    const A = { id: "uid-a", serverVersion: "v1.31.2" };
    const B = { id: "uid-b", serverVersion: "v1.30.0" };
    const from = (connectionId: string, cluster?: typeof A): RuntimeCommand => ({
      ...(connect(connectionId) as Extract<RuntimeCommand, { type: "ConnectAgent" }>),
      ...(cluster ? { cluster } : {}),
    });
    const pinned = (connectionId: string, cluster = A): E => ({
      type: "ClusterPinned",
      data: { runtime: "k8s", connectionId, cluster },
    });
    const connectedIn = (connectionId: string, generation: number, cluster = A, tokenGeneration = 1): E => {
      const e = connected(connectionId, generation, tokenGeneration) as Extract<E, { type: "AgentConnected" }>;
      return { ...e, data: { ...e.data, cluster } };
    };

    it("pins the runtime to the cluster its first identified agent runs in", () => {
      spec([issued()])
        .when(from("c1", A))
        .then([linked, pinned("c1"), connectedIn("c1", 1)]);
      // An agent that says nothing of its cluster pins nothing; the next one that does pins it.
      spec([issued(), linked, connected("c1", 1)])
        .when(from("c2", A))
        .then([
          {
            type: "AgentSuperseded",
            data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, supersededBy: "c2" },
          },
          pinned("c2"),
          connectedIn("c2", 2),
        ]);
    });

    it("refuses an agent from another cluster, or one that does not say, once pinned", () => {
      const given = [issued(), linked, pinned("c1"), connectedIn("c1", 1)];
      spec(given).when(from("c2", B)).thenError("runtime.other_cluster", 409);
      spec(given).when(from("c2")).thenError("runtime.other_cluster", 409);
      // The same cluster after an upgrade of its API server: accepted, and the new version kept.
      const upgraded = { id: A.id, serverVersion: "v1.32.0" };
      spec(given)
        .when(from("c2", upgraded))
        .then([
          {
            type: "AgentSuperseded",
            data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, supersededBy: "c2" },
          },
          connectedIn("c2", 2, upgraded),
        ]);
      expect(fold(runtimeDecider, [...given, connectedIn("c2", 2, upgraded)]).cluster).toEqual(upgraded);
    });

    it("starts over when the runtime is linked again: unlinked, unpinned, until the next agent", () => {
      const relinked = fold(runtimeDecider, [issued(), linked, pinned("c1"), connectedIn("c1", 1), issued(2, OTHER)]);
      expect(relinked.linked).toBe(false);
      expect(relinked.cluster).toBeUndefined();
      spec([issued(), linked, pinned("c1"), connectedIn("c1", 1), issued(2, OTHER)])
        .when({ ...(from("c2", B) as Extract<RuntimeCommand, { type: "ConnectAgent" }>), tokenHash: OTHER })
        .then([
          { type: "RuntimeLinked", data: { runtime: "k8s", connectionId: "c2", agentVersion: "1.2.0" } },
          {
            type: "AgentSuperseded",
            data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, supersededBy: "c2" },
          },
          pinned("c2", B),
          connectedIn("c2", 2, B, 2),
        ]);
    });
  });

  it("refuses a bad token and an unlinked runtime", () => {
    spec([issued()]).when(connect("c1", OTHER)).thenError("agent.bad_token", 401);
    spec([issued(1), issued(2, OTHER)])
      .when(connect("c1", HASH))
      .thenError("agent.bad_token", 401);
    spec([]).when(connect("c1")).thenError("agent.not_linked", 401);
  });

  it("records a disconnect only from the lease holder", () => {
    const disconnect = (connectionId: string): RuntimeCommand => ({
      type: "DisconnectAgent",
      runtime: "k8s",
      connectionId,
      reason: "closed by agent",
    });
    spec([issued(), linked, connected("c1", 1)])
      .when(disconnect("c1"))
      .then([
        {
          type: "AgentDisconnected",
          data: { runtime: "k8s", connectionId: "c1", leaseGeneration: 1, reason: "closed by agent" },
        },
      ]);
    spec([issued(), linked, connected("c1", 1), connected("c2", 2)])
      .when(disconnect("c1"))
      .thenNothing();
    spec([issued()]).when(disconnect("c1")).thenNothing();
  });

  it("knows a lease's connection may still be opening for as long as $connect may run", () => {
    const lease = fold(runtimeDecider, [issued(), linked, connected("c1", 1)]).lease!;
    expect(lease.connectedAt).toBe(AT);
    const after = (ms: number) => new Date(Date.parse(AT) + ms);
    expect(mayStillBeOpening(lease, after(0))).toBe(true);
    expect(mayStillBeOpening(lease, after(29_999))).toBe(true);
    expect(mayStillBeOpening(lease, after(30_000))).toBe(false);
    // A lease granted before the time was recorded is never taken for an opening one.
    const { connectedAt: _at, ...older } = lease;
    expect(mayStillBeOpening(older, after(0))).toBe(false);
  });

  it("fences every connection but the lease holder at its generation", () => {
    const state = fold(runtimeDecider, [issued(), linked, connected("c1", 1), connected("c2", 2)]);
    expect(assertLeaseHolder(state, "c2", 2)).toEqual({
      connectionId: "c2",
      generation: 2,
      agentVersion: "1.2.0",
      connectedAt: AT,
      tokenGeneration: 1,
    });
    expect(assertLeaseHolder(state, "c2")).toMatchObject({ generation: 2 });
    for (const [connection, generation] of [
      ["c1", 1],
      ["c1", undefined],
      ["c2", 1],
    ] as const) {
      let caught: unknown;
      try {
        assertLeaseHolder(state, connection, generation);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DomainError);
      expect((caught as DomainError).code).toBe("agent.fenced");
    }
  });

  describe("token rotation with an overlap", () => {
    const NEW = "c".repeat(64);
    const LATER = "2026-12-04T10:05:00.000Z";
    /** 10 minutes after LATER: the overlap of a rotation at LATER ends then. */
    const UNTIL = "2026-12-04T10:15:00.000Z";
    const at = (ms: number) => new Date(Date.parse(UNTIL) + ms).toISOString();
    const rotate = (now = LATER, tokenHash = NEW, tokenId = "t2"): RuntimeCommand => ({
      type: "RotateAgentToken",
      runtime: "k8s",
      tokenId,
      tokenHash,
      now,
      overlapSeconds: 600,
    });
    const rotated = (generation = 2, previous = 1, rotatedAt = LATER, validUntil = UNTIL, hash = NEW): E => ({
      type: "AgentTokenRotated",
      data: {
        runtime: "k8s",
        tokenId: `t${generation}`,
        tokenHash: hash,
        tokenGeneration: generation,
        rotatedAt,
        previousTokenId: `t${previous}`,
        previousTokenGeneration: previous,
        previousTokenValidUntil: validUntil,
      },
    });
    const pinned: E = {
      type: "ClusterPinned",
      data: { runtime: "k8s", connectionId: "c1", cluster: { id: "uid-a" } },
    };
    const running = [issued(), linked, pinned, connected("c1", 1)];
    const connectAt = (connectionId: string, tokenHash: string, connectedAt: string): RuntimeCommand => ({
      type: "ConnectAgent",
      runtime: "k8s",
      connectionId,
      tokenHash,
      agentVersion: "1.2.0",
      connectedAt,
      cluster: { id: "uid-a" },
    });
    const superseded = (connectionId: string, generation: number, by: string): E => ({
      type: "AgentSuperseded",
      data: { runtime: "k8s", connectionId, leaseGeneration: generation, supersededBy: by },
    });
    const connectedWith = (connectionId: string, lease: number, token: number, connectedAt: string): E => ({
      type: "AgentConnected",
      data: {
        runtime: "k8s",
        connectionId,
        leaseGeneration: lease,
        agentVersion: "1.2.0",
        connectedAt,
        cluster: { id: "uid-a" },
        tokenGeneration: token,
      },
    });
    const disconnected = (connectionId: string, lease: number, reason: string): E => ({
      type: "AgentDisconnected",
      data: { runtime: "k8s", connectionId, leaseGeneration: lease, reason },
    });

    it("issues a new token and keeps the runtime linked, pinned, and its agent's lease", () => {
      spec(running).when(rotate()).then([rotated()]);
      const state = spec(running).when(rotate()).state();
      expect(state.linked).toBe(true);
      expect(state.cluster).toEqual({ id: "uid-a" });
      expect(state.lease).toMatchObject({ connectionId: "c1", generation: 1, tokenGeneration: 1 });
      expect(tokenOverlap(state, LATER)).toEqual({ tokenRotatedAt: LATER, previousTokenValidUntil: UNTIL });
      expect(tokenOverlap(state, UNTIL)).toBeUndefined();
    });

    it("refuses to rotate a runtime that has no token, or whose tokens were revoked", () => {
      spec([]).when(rotate()).thenError("runtime.not_linked", 409);
      const revoked: E = {
        type: "AgentTokensRevoked",
        data: { runtime: "k8s", scope: "all", tokens: [{ tokenId: "t1", tokenGeneration: 1 }], revokedAt: LATER },
      };
      const err = spec([issued(), revoked]).when(rotate()).thenError("runtime.not_linked", 409);
      expect(err.message).toContain("revoked");
    });

    it("accepts the previous token for new connections until the overlap ends, and refuses it after", () => {
      const given = [...running, rotated()];
      // With the previous token, a millisecond before the end: the lease is taken over as always.
      spec(given)
        .when(connectAt("c2", HASH, at(-1)))
        .then([superseded("c1", 1, "c2"), connectedWith("c2", 2, 1, at(-1))]);
      spec(given)
        .when(connectAt("c2", HASH, UNTIL))
        .thenError("agent.token_expired", 401);
      // The new token, at any time; a wrong one never.
      spec(given)
        .when(connectAt("c2", NEW, at(3_600_000)))
        .then([superseded("c1", 1, "c2"), connectedWith("c2", 2, 2, at(3_600_000))]);
      spec(given)
        .when(connectAt("c2", OTHER, LATER))
        .thenError("agent.bad_token", 401);
      // Payload fetches judge tokens the same way.
      const state = fold(runtimeDecider, given);
      expect(authenticateAgent(state, "k8s", HASH, at(-1))).toBe(1);
      expect(authenticateAgent(state, "k8s", NEW, at(1))).toBe(2);
      expect(refusal(() => authenticateAgent(state, "k8s", HASH, UNTIL)).code).toBe("agent.token_expired");
    });

    it("serves the lease of a connection made with the previous token until the overlap ends, then refuses its messages", () => {
      const state = fold(runtimeDecider, [...running, rotated()]);
      expect(assertLeaseHolder(state, "c1", 1, at(-1))).toMatchObject({ connectionId: "c1", tokenGeneration: 1 });
      expect(leaseTokenValid(state, state.lease!, UNTIL)).toBe(false);
      const refused = refusal(() => assertLeaseHolder(state, "c1", 1, UNTIL));
      expect(refused.code).toBe("agent.token_expired");
      // A connection made with the new token is served after the overlap as before it.
      const renewed = fold(runtimeDecider, [
        ...running,
        rotated(),
        superseded("c1", 1, "c2"),
        connectedWith("c2", 2, 2, LATER),
      ]);
      expect(assertLeaseHolder(renewed, "c2", 2, at(3_600_000))).toMatchObject({ tokenGeneration: 2 });
      // A lease granted before tokens' generations were recorded authenticated with the token current then.
      const { tokenGeneration: _t, ...legacyData } = (connected("c1", 1) as Extract<E, { type: "AgentConnected" }>)
        .data;
      const legacy = fold(runtimeDecider, [issued(), linked, { type: "AgentConnected", data: legacyData }, rotated()]);
      expect(legacy.lease?.tokenGeneration).toBe(1);
      expect(refusal(() => assertLeaseHolder(legacy, "c1", 1, UNTIL)).code).toBe("agent.token_expired");
    });

    it("keeps accepting the token the agent is connected with when rotated again, and drops the other", () => {
      const THIRD = "d".repeat(64);
      // Rotated again (or retried) while the agent is still on the first token: the first token stays
      // accepted for the new overlap; the second, which no agent uses, is dropped.
      const again = rotated(3, 1, at(-1000), at(599_000), THIRD);
      spec([...running, rotated()])
        .when(rotate(at(-1000), THIRD, "t3"))
        .then([again]);
      const kept = fold(runtimeDecider, [...running, rotated(), again]);
      expect(authenticateAgent(kept, "k8s", HASH, at(598_999))).toBe(1);
      expect(refusal(() => authenticateAgent(kept, "k8s", NEW, at(0))).code).toBe("agent.bad_token");
      expect(assertLeaseHolder(kept, "c1", 1, at(598_999))).toMatchObject({ tokenGeneration: 1 });
      // An agent that switched already keeps the token it switched to.
      const switched = [...running, rotated(), superseded("c1", 1, "c2"), connectedWith("c2", 2, 2, LATER)];
      const next = rotated(3, 2, at(-1000), at(599_000), THIRD);
      spec(switched)
        .when(rotate(at(-1000), THIRD, "t3"))
        .then([next]);
      expect(authenticateAgent(fold(runtimeDecider, [...switched, next]), "k8s", NEW, at(0))).toBe(2);
    });

    it("ends a lease whose token's overlap had ended when the token is rotated again", () => {
      const THIRD = "d".repeat(64);
      const second = rotated(3, 2, at(1), at(600_001), THIRD);
      spec([...running, rotated()])
        .when(rotate(at(1), THIRD, "t3"))
        .then([second, disconnected("c1", 1, "agent token expired")]);
      const state = fold(runtimeDecider, [...running, rotated(), second]);
      expect(refusal(() => authenticateAgent(state, "k8s", HASH, at(1))).code).toBe("agent.bad_token");
      expect(authenticateAgent(state, "k8s", NEW, at(2))).toBe(2);
    });

    it("voids every token, and the overlap, when the runtime is linked again", () => {
      const relinked = fold(runtimeDecider, [...running, rotated(), issued(3, OTHER)]);
      expect(relinked.previousToken).toBeUndefined();
      expect(refusal(() => authenticateAgent(relinked, "k8s", HASH, LATER)).code).toBe("agent.bad_token");
      expect(refusal(() => authenticateAgent(relinked, "k8s", NEW, LATER)).code).toBe("agent.bad_token");
      expect(authenticateAgent(relinked, "k8s", OTHER, LATER)).toBe(3);
    });

    describe("revoking", () => {
      const revoke = (scope: "all" | "previous", now = at(-60_000)): RuntimeCommand => ({
        type: "RevokeAgentTokens",
        runtime: "k8s",
        scope,
        now,
      });
      const revokedAll = (now = at(-60_000)): E => ({
        type: "AgentTokensRevoked",
        data: {
          runtime: "k8s",
          scope: "all",
          tokens: [
            { tokenId: "t2", tokenGeneration: 2 },
            { tokenId: "t1", tokenGeneration: 1 },
          ],
          revokedAt: now,
        },
      });
      const revokedPrevious = (now = at(-60_000)): E => ({
        type: "AgentTokensRevoked",
        data: { runtime: "k8s", scope: "previous", tokens: [{ tokenId: "t1", tokenGeneration: 1 }], revokedAt: now },
      });

      it("ends every token at once and disconnects the lease holder; the runtime must be linked again", () => {
        spec([...running, rotated()])
          .when(revoke("all"))
          .then([revokedAll(), disconnected("c1", 1, "agent tokens revoked")]);
        const state = fold(runtimeDecider, [
          ...running,
          rotated(),
          revokedAll(),
          disconnected("c1", 1, "agent tokens revoked"),
        ]);
        expect(state).toMatchObject({ linked: false, revoked: true });
        expect(state.lease).toBeUndefined();
        expect(state.cluster).toBeUndefined();
        for (const hash of [HASH, NEW])
          expect(refusal(() => authenticateAgent(state, "k8s", hash, LATER)).code).toBe("agent.token_revoked");
        spec([...running, rotated(), revokedAll()])
          .when(connectAt("c2", NEW, LATER))
          .thenError("agent.token_revoked", 401);
        // Linking again makes a working runtime of it.
        const relinked = [...running, rotated(), revokedAll(), issued(3, OTHER)];
        expect(authenticateAgent(fold(runtimeDecider, relinked), "k8s", OTHER, LATER)).toBe(3);
      });

      it("is a no-op when there is nothing to revoke", () => {
        spec([]).when(revoke("all")).thenNothing();
        spec([...running, rotated(), revokedAll()])
          .when(revoke("all"))
          .thenNothing();
        // Without an overlap running, `previous` has nothing to end; `all` revokes only the current token.
        spec(running).when(revoke("previous")).thenNothing();
        spec([...running, rotated()])
          .when(revoke("previous", UNTIL))
          .thenNothing();
        spec([...running, rotated()])
          .when(revoke("all", UNTIL))
          .then([
            {
              type: "AgentTokensRevoked",
              data: { runtime: "k8s", scope: "all", tokens: [{ tokenId: "t2", tokenGeneration: 2 }], revokedAt: UNTIL },
            },
            disconnected("c1", 1, "agent tokens revoked"),
          ]);
      });

      it("ends only the overlap with `previous`, disconnecting a lease holder on the previous token", () => {
        spec([...running, rotated()])
          .when(revoke("previous"))
          .then([revokedPrevious(), disconnected("c1", 1, "previous agent token revoked")]);
        const state = fold(runtimeDecider, [...running, rotated(), revokedPrevious()]);
        expect(state.linked).toBe(true);
        expect(tokenOverlap(state, at(-60_000))).toBeUndefined();
        expect(refusal(() => authenticateAgent(state, "k8s", HASH, at(-60_000))).code).toBe("agent.token_expired");
        expect(authenticateAgent(state, "k8s", NEW, at(-60_000))).toBe(2);
        // An agent already on the new token keeps its lease.
        spec([...running, rotated(), superseded("c1", 1, "c2"), connectedWith("c2", 2, 2, LATER)])
          .when(revoke("previous"))
          .then([revokedPrevious()]);
      });
    });
  });
});

describe("agent versions", () => {
  it("offers an upgrade to an older agent that is still supported, and to no other", () => {
    expect(agentUpgradeAvailable("1.0.0", "1.1.0")).toBe(true);
    expect(agentUpgradeAvailable("1.1.0-rc.1", "1.1.0")).toBe(true);
    expect(agentUpgradeAvailable("1.1.0", "1.1.0")).toBe(false);
    expect(agentUpgradeAvailable("1.1.0+build.7", "1.1.0")).toBe(false);
    // Newer than the server, unsupported, or not a version at all: no upgrade is offered.
    expect(agentUpgradeAvailable("1.2.0", "1.1.0")).toBe(false);
    expect(agentUpgradeAvailable("1.1.0", "1.4.0")).toBe(false);
    expect(agentUpgradeAvailable("1.2.9", "1.4.0")).toBe(true);
    expect(agentUpgradeAvailable("1.1.0", "1.4.0", 5)).toBe(true);
    expect(agentUpgradeAvailable("0.9.0", "1.1.0")).toBe(false);
    expect(agentUpgradeAvailable("latest", "1.1.0")).toBe(false);
    expect(agentUpgradeAvailable(undefined)).toBe(false);
    expect(agentUpgradeAvailable(CURRENT_AGENT_VERSION)).toBe(false);
  });

  it("names an image's repository without its tag or digest", () => {
    expect(imageRepository("slipway/agent:1.1.0")).toBe("slipway/agent");
    expect(imageRepository("registry.example.com:5000/ops/slipway-agent:1.1.0")).toBe(
      "registry.example.com:5000/ops/slipway-agent",
    );
    expect(imageRepository(`registry.example.com:5000/agent@sha256:${"a".repeat(64)}`)).toBe(
      "registry.example.com:5000/agent",
    );
    expect(imageRepository(`ghcr.io/acme/agent:1.0.0@sha256:${"a".repeat(64)}`)).toBe("ghcr.io/acme/agent");
    expect(imageRepository("localhost:5000/agent")).toBe("localhost:5000/agent");
  });
});

describe("linkedAfter", () => {
  const revoked = (scope: "all" | "previous"): E => ({
    type: "AgentTokensRevoked",
    data: { runtime: "k8s", scope, tokens: [{ tokenId: "t1", tokenGeneration: 1 }], revokedAt: AT },
  });
  it("says what the decider's state says of linked, after every event of a runtime's story", () => {
    const story: E[] = [
      issued(1),
      linked,
      connected("c1", 1),
      revoked("previous"),
      issued(2, OTHER),
      { type: "RuntimeLinked", data: { runtime: "k8s", connectionId: "c2", agentVersion: "1.2.0" } },
      revoked("all"),
      issued(3),
    ];
    let projected = false;
    const seen: boolean[] = [];
    story.forEach((e, n) => {
      projected = linkedAfter(e) ?? projected;
      expect(projected, `after ${e.type} (#${n + 1})`).toBe(fold(runtimeDecider, story.slice(0, n + 1)).linked);
      seen.push(projected);
    });
    expect(seen).toEqual([false, true, true, true, false, true, false, false]);
  });
});
