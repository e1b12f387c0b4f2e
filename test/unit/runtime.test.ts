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
