import { describe, expect, it } from "vitest";
import {
  assertLeaseHolder,
  DomainError,
  fold,
  mayStillBeOpening,
  runtimeDecider,
  type RuntimeCommand,
} from "../../core/index.js";
import { specFor } from "../support/spec.js";

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
const connected = (connectionId: string, leaseGeneration: number): E => ({
  type: "AgentConnected",
  data: { runtime: "k8s", connectionId, leaseGeneration, agentVersion: "1.2.0", connectedAt: AT },
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

  it("revokes the connected agent's lease when the token is rotated", () => {
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
    const connectedIn = (connectionId: string, generation: number, cluster = A): E => {
      const e = connected(connectionId, generation) as Extract<E, { type: "AgentConnected" }>;
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
          connectedIn("c2", 2, B),
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
});
