import { describe, expect, it } from "vitest";
import {
  channelDecider,
  deploymentChanges,
  fold,
  matchesRelease,
  releaseDecider,
  releaseRecord,
  releaseSummary,
  type Deployment,
  type ReleaseFilter,
  type ReleaseSummary,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";

/**
 * Release summaries read as specifications: given a release's events and its channels' events,
 * then this state in every channel.
 */

const CREATED_AT = "2026-12-01T10:00:00.000Z";
const created = (releaseId: string, author?: string): DomainEvent => ({
  type: "ReleaseCreated",
  data: {
    releaseId,
    application: "shop",
    service: "api",
    params: { image: `registry.example.com/shop/api:${releaseId}` },
    source: {},
    ...(author ? { author } : {}),
    channels: ["staging", "production"],
    configVersions: { application: 1, service: 1 },
  },
});
const started = (releaseId: string, channel: string): DomainEvent => ({
  type: "PromotionStarted",
  data: { releaseId, channel },
});
const blocked = (releaseId: string, channel: string, reason: string): DomainEvent => ({
  type: "PreconditionBlocked",
  data: { releaseId, channel, precondition: "manualApproval:approval", reason },
});
const dispatched = (releaseId: string, rollback = false, runtime = "k8s"): DomainEvent => ({
  type: "InstructionDispatched",
  data: {
    instructionId: `shop.staging.${releaseId}.${runtime}${rollback ? ".1" : ""}`,
    releaseId,
    channel: "staging",
    application: "shop",
    service: "api",
    runtime,
    payload: { kind: "kubernetes", manifests: ["m"] },
    rollback,
  },
});
const succeeded = (releaseId: string, rollback = false): DomainEvent => ({
  type: "ApplySucceeded",
  data: { instructionId: `shop.staging.${releaseId}.k8s${rollback ? ".1" : ""}`, runtime: "k8s", releaseId },
});
const failed = (releaseId: string): DomainEvent => ({
  type: "ApplyFailed",
  data: { instructionId: `shop.staging.${releaseId}.k8s`, runtime: "k8s", releaseId, message: "image pull failed" },
});
const converged = (releaseId: string): DomainEvent => ({
  type: "ChannelConverged",
  data: { releaseId, channel: "staging", application: "shop", service: "api", convergedAt: CREATED_AT },
});
const rolledBack = (from: string, to: string): DomainEvent => ({
  type: "ReleaseRolledBack",
  data: { application: "shop", channel: "staging", service: "api", fromReleaseId: from, toReleaseId: to },
});

/** What the summary table holds after the channel's events: each release's newest deployment there. */
function stagingDeployments(channel: DomainEvent[]): Record<string, Deployment> {
  const out: Record<string, Deployment> = {};
  let state = channelDecider.initialState();
  for (const e of channel) {
    for (const change of deploymentChanges(state, e)) out[change.releaseId] = change.deployment;
    state = channelDecider.evolve(state, e);
  }
  return out;
}

/** Given a release's events and the staging channel's events, the release's summary. */
function given(release: DomainEvent[], channel: DomainEvent[] = [], waiting: Record<string, string[]> = {}) {
  const record = releaseRecord(fold(releaseDecider, release), CREATED_AT)!;
  const deployment = stagingDeployments(channel)[record.releaseId];
  return releaseSummary(record, deployment ? { staging: deployment } : {}, waiting);
}
const states = (s: ReleaseSummary) => s.channels.map((c) => [c.name, c.state, ...(c.waiting ? [c.waiting] : [])]);

describe("release summary", () => {
  it("has no record before the release is created", () => {
    expect(releaseRecord(releaseDecider.initialState(), CREATED_AT)).toBeUndefined();
  });

  it("carries what the release is, and is pending in channels it has not entered", () => {
    const s = given([created("r1", "alice")]);
    expect(s).toEqual({
      releaseId: "r1",
      application: "shop",
      service: "api",
      params: { image: "registry.example.com/shop/api:r1" },
      author: "alice",
      cause: "ci",
      createdAt: CREATED_AT,
      status: "active",
      channels: [
        { name: "staging", state: "pending" },
        { name: "production", state: "pending" },
      ],
    });
  });

  it("waits in a channel it entered, with the reasons its gates block it", () => {
    const release = [created("r1"), started("r1", "production"), blocked("r1", "production", "waiting for approval")];
    expect(states(given(release))[1]).toEqual(["production", "waiting", ["waiting for approval"]]);
  });

  it("prefers the reasons the promotion recorded, which also name a paused channel", () => {
    const release = [created("r1"), started("r1", "production")];
    const s = given(release, [], { production: ['release channel "production" is paused'] });
    expect(states(s)[1]).toEqual(["production", "waiting", ['release channel "production" is paused']]);
  });

  it("follows its deployment: deploying, then converged", () => {
    const release = [created("r1"), started("r1", "staging")];
    expect(states(given(release, [dispatched("r1")]))[0]).toEqual(["staging", "deploying"]);
    expect(states(given(release, [dispatched("r1"), succeeded("r1"), converged("r1")]))[0]).toEqual([
      "staging",
      "converged",
    ]);
  });

  it("is failed when an instruction for it fails while it is the channel's release", () => {
    const release = [created("r1"), started("r1", "staging")];
    expect(states(given(release, [dispatched("r1"), failed("r1")]))[0]).toEqual(["staging", "failed"]);
  });

  it("is replaced once another release is dispatched in its place, and a late failure report changes nothing", () => {
    const channel = [dispatched("r1"), succeeded("r1"), converged("r1"), dispatched("r2"), failed("r1")];
    expect(stagingDeployments(channel)).toEqual({ r1: "replaced", r2: "deploying" });
  });

  it("is rolled back from when the channel goes back to an earlier release, which deploys again", () => {
    const channel = [
      dispatched("r1"),
      succeeded("r1"),
      converged("r1"),
      dispatched("r2"),
      succeeded("r2"),
      converged("r2"),
      rolledBack("r2", "r1"),
      dispatched("r1", true),
    ];
    expect(stagingDeployments(channel)).toEqual({ r1: "deploying", r2: "rolledBack" });
    expect(stagingDeployments([...channel, succeeded("r1", true), converged("r1")])).toEqual({
      r1: "converged",
      r2: "rolledBack",
    });
  });

  it("is replaced, not rolled back, where a newer release takes the place of one rolled back to", () => {
    const channel = [
      dispatched("r1"),
      converged("r1"),
      dispatched("r2"),
      converged("r2"),
      rolledBack("r2", "r1"),
      dispatched("r1", true),
      converged("r1"),
      dispatched("r3"),
    ];
    expect(stagingDeployments(channel)).toEqual({ r1: "replaced", r2: "rolledBack", r3: "deploying" });
  });

  it("makes one dispatch to many runtimes one change of the release", () => {
    const channel = [dispatched("r1", false, "a"), dispatched("r1", false, "b")];
    expect(stagingDeployments(channel)).toEqual({ r1: "deploying" });
  });

  it("is superseded where a newer release took its place before it got there", () => {
    const release = [
      created("r1"),
      started("r1", "production"),
      { type: "ReleaseSuperseded", data: { releaseId: "r1", channel: "production", supersededBy: "r2" } },
    ] satisfies DomainEvent[];
    expect(states(given(release))[1]).toEqual(["production", "superseded"]);
  });

  it("is abandoned or bad where it has not deployed, and keeps what it deployed elsewhere", () => {
    const deployed = [created("r1"), started("r1", "staging")];
    const channel = [dispatched("r1"), converged("r1")];
    const abandoned = given(
      [...deployed, { type: "ReleaseAbandoned", data: { releaseId: "r1" } } satisfies DomainEvent],
      channel,
    );
    expect(abandoned.status).toBe("abandoned");
    expect(states(abandoned)).toEqual([
      ["staging", "converged"],
      ["production", "abandoned"],
    ]);
    const bad = given(
      [
        ...deployed,
        { type: "ReleaseMarkedBad", data: { releaseId: "r1", reason: "leaks memory" } } satisfies DomainEvent,
      ],
      channel,
    );
    expect(bad.bad).toEqual({ reason: "leaks memory" });
    expect(states(bad)).toEqual([
      ["staging", "converged"],
      ["production", "bad"],
    ]);
  });
});

describe("release filters", () => {
  const summary = (over: Partial<ReleaseSummary> = {}): ReleaseSummary => ({
    releaseId: "r1",
    application: "shop",
    service: "api",
    params: {},
    author: "alice",
    cause: "ci",
    createdAt: CREATED_AT,
    status: "active",
    channels: [
      { name: "staging", state: "converged" },
      { name: "production", state: "pending" },
    ],
    ...over,
  });
  const cases: [ReleaseFilter, boolean][] = [
    [{}, true],
    [{ service: "api" }, true],
    [{ service: "web" }, false],
    [{ author: "alice" }, true],
    [{ author: "bob" }, false],
    [{ state: "converged" }, true],
    [{ state: "waiting" }, false],
    [{ channel: "staging", state: "converged" }, true],
    [{ channel: "production", state: "converged" }, false],
    [{ channel: "production", state: "pending" }, true],
    [{ channel: "staging" }, true],
    [{ channel: "production" }, false],
    [{ channel: "qa" }, false],
    [{ since: CREATED_AT }, true],
    [{ since: "2026-12-01T11:00:00+01:00" }, true],
    [{ since: "2026-12-01T10:00:00.001Z" }, false],
    [{ service: "api", author: "alice", channel: "staging", state: "converged" }, true],
    [{ service: "api", author: "alice", channel: "staging", state: "failed" }, false],
  ];
  it.each(cases)("%j matches: %s", (filter, expected) => {
    expect(matchesRelease(summary(), filter)).toBe(expected);
  });
});
