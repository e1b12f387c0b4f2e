import { describe, expect, it } from "vitest";
import { narrate, streams } from "../../core/index.js";
import type { Actor, DomainEvent, StoredEvent } from "../../events/index.js";
import { docs, releaseCreated } from "../support/fixtures.js";

/** An event as the store hands it back: given its stream and who recorded it, in request req-1. */
function stored(streamId: string, event: DomainEvent, actor: Actor = { kind: "ci", id: "github" }): StoredEvent {
  return {
    ...event,
    streamId,
    version: 1,
    eventId: "ev-1",
    schemaVersion: 1,
    occurredAt: "2030-01-01T00:00:00.000Z",
    actor,
    correlationId: "req-1",
    causationId: "req-1",
  };
}

const reactor: Actor = { kind: "system", id: "reactor" };
const agent: Actor = { kind: "agent", id: "conn-1" };
const id = "shop.staging.r1.k8s-staging";

describe("narration: what the log tells a person", () => {
  it("tells a release's creation with its application, service and cause, as the request that made it", () => {
    expect(narrate(stored(streams.release("r1"), releaseCreated("r1")))).toEqual({
      level: "info",
      message: "release r1 created for shop/api",
      keys: {
        component: "api",
        correlationId: "req-1",
        eventId: "ev-1",
        event: "ReleaseCreated",
        actor: "ci:github",
        releaseId: "r1",
        application: "shop",
        service: "api",
        cause: "ci",
      },
    });
    const fromConfig = releaseCreated("r2");
    fromConfig.data = { ...fromConfig.data, cause: "config", basedOn: "r1" };
    expect(narrate(stored(streams.release("r2"), fromConfig, reactor))).toMatchObject({
      message: "release r2 created for shop/api from a config change (params of r1)",
      keys: { component: "reactor", cause: "config" },
    });
  });

  it("tells a dispatch and its instruction's progress with the keys to follow it: release, channel, runtime", () => {
    const dispatched = stored(
      streams.channel("shop", "staging"),
      {
        type: "InstructionDispatched",
        data: {
          instructionId: id,
          releaseId: "r1",
          application: "shop",
          channel: "staging",
          service: "api",
          runtime: "k8s-staging",
          payload: { kind: "kubernetes", manifests: ["kind: Secret\ndata: {password: aHVudGVyMg==}"] },
          rollback: false,
        },
      },
      reactor,
    );
    const told = narrate(dispatched);
    expect(told).toMatchObject({
      level: "info",
      message: `staging: instruction ${id} dispatched to k8s-staging`,
      keys: { component: "reactor", releaseId: "r1", application: "shop", channel: "staging", runtime: "k8s-staging" },
    });
    // Manifests are the agent's business, not the log's.
    expect(JSON.stringify(told)).not.toContain("aHVudGVyMg");

    // An ack names neither release nor channel: they come from its stream and its instruction id.
    const acked = stored(
      streams.channel("shop", "staging"),
      {
        type: "InstructionAcknowledged",
        data: { instructionId: id, runtime: "k8s-staging", connectionId: "conn-1", leaseGeneration: 1 },
      },
      agent,
    );
    expect(narrate(acked)).toMatchObject({
      level: "info",
      message: `staging: instruction ${id} acknowledged by k8s-staging`,
      keys: {
        component: "agents",
        releaseId: "r1",
        application: "shop",
        channel: "staging",
        runtime: "k8s-staging",
        connectionId: "conn-1",
      },
    });
    const report = { instructionId: id, runtime: "k8s-staging", releaseId: "r1" };
    const channel = streams.channel("shop", "staging");
    expect(narrate(stored(channel, { type: "ApplyStarted", data: report }, agent)).level).toBe("debug");
    expect(narrate(stored(channel, { type: "ApplySucceeded", data: report }, agent))).toMatchObject({
      level: "info",
      message: `staging: instruction ${id} applied on k8s-staging`,
    });
    // Progress is recorded in the runtime's delivery stream: narrated as of its channel all the same.
    const delivery = streams.delivery("shop", "staging", "k8s-staging");
    expect(
      narrate(stored(delivery, { type: "ApplySucceeded", data: { ...report, service: "api" } }, agent)),
    ).toMatchObject({
      message: `staging: instruction ${id} applied on k8s-staging`,
      keys: { application: "shop", channel: "staging", releaseId: "r1" },
    });
    expect(
      narrate(stored(channel, { type: "ApplyFailed", data: { ...report, message: "ImagePullBackOff" } }, agent)),
    ).toMatchObject({ level: "warn", message: `staging: instruction ${id} failed on k8s-staging: ImagePullBackOff` });
  });

  it("tells why a channel holds a release, and until when; a passing gate only when something lifted it", () => {
    const release = streams.release("r1");
    expect(
      narrate(
        stored(
          release,
          {
            type: "PreconditionBlocked",
            data: {
              releaseId: "r1",
              channel: "production",
              precondition: "releaseChannelStable:staging",
              reason: 'release channel "staging" must stay healthy for 10m',
              until: "2030-01-01T00:10:00.000Z",
            },
          },
          reactor,
        ),
      ),
    ).toMatchObject({
      level: "info",
      message: 'production holds r1: release channel "staging" must stay healthy for 10m',
      keys: { releaseId: "r1", channel: "production", until: "2030-01-01T00:10:00.000Z" },
    });
    const satisfied = (note?: string) =>
      narrate(
        stored(
          release,
          {
            type: "PreconditionSatisfied",
            data: { releaseId: "r1", channel: "production", precondition: "freeze:q4", ...(note ? { note } : {}) },
          },
          reactor,
        ),
      );
    expect(satisfied().level).toBe("debug");
    expect(satisfied("overridden by admin: hotfix")).toMatchObject({
      level: "info",
      message: "production: r1 passes freeze:q4: overridden by admin: hotfix",
    });
  });

  it("names config objects and credentials by id only: no spec, no hash", () => {
    const application = {
      ...docs.shop.application,
      notifications: { slack: { webhookUrl: "https://hooks.slack.com/services/T0/B0/secret" } },
    };
    const applied = narrate(
      stored(streams.config(), {
        type: "ConfigApplied",
        data: { kind: "application", name: "shop", version: 3, spec: application },
      }),
    );
    expect(applied).toMatchObject({
      message: "config: application shop applied (version 3)",
      keys: { application: "shop" },
    });
    expect(JSON.stringify(applied)).not.toContain("hooks.slack.com");

    const hash = "a".repeat(64);
    const issued = narrate(
      stored(streams.runtime("k8s-staging"), {
        type: "AgentTokenIssued",
        data: { runtime: "k8s-staging", tokenId: "t-1", tokenHash: hash, tokenGeneration: 2 },
      }),
    );
    expect(issued).toMatchObject({
      message: "k8s-staging: agent token issued (generation 2)",
      keys: { runtime: "k8s-staging" },
    });
    const key = narrate(
      stored(streams.apiKeys(), {
        type: "ApiKeyIssued",
        data: { keyId: "0123456789ab", name: "ci", scopes: ["release"], keyHash: hash },
      }),
    );
    expect(key.message).toBe('API key "ci" issued (id 0123456789ab; scopes release)');
    const rotated = narrate(
      stored(streams.runtime("k8s-staging"), {
        type: "AgentTokenRotated",
        data: {
          runtime: "k8s-staging",
          tokenId: "t-3",
          tokenHash: hash,
          tokenGeneration: 3,
          rotatedAt: "2030-01-01T00:00:00.000Z",
          previousTokenId: "t-1",
          previousTokenGeneration: 2,
          previousTokenValidUntil: "2030-01-01T00:10:00.000Z",
        },
      }),
    );
    expect(rotated).toMatchObject({
      message:
        "k8s-staging: agent token rotated (generation 3); the previous one (generation 2) is accepted until 2030-01-01T00:10:00.000Z",
      keys: { runtime: "k8s-staging" },
    });
    const revoked = narrate(
      stored(streams.runtime("k8s-staging"), {
        type: "AgentTokensRevoked",
        data: {
          runtime: "k8s-staging",
          scope: "all",
          tokens: [
            { tokenId: "t-3", tokenGeneration: 3 },
            { tokenId: "t-1", tokenGeneration: 2 },
          ],
          revokedAt: "2030-01-01T00:05:00.000Z",
        },
      }),
    );
    expect(revoked.message).toBe("k8s-staging: agent tokens revoked (generations 3, 2); it must be linked again");
    expect(JSON.stringify([issued, key, rotated])).not.toContain(hash);
  });
});
