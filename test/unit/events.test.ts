import { describe, expect, it } from "vitest";
import {
  DomainEventSchema,
  eventTypes,
  parseStoredEvent,
  UnknownEventTypeError,
  UnknownSchemaVersionError,
  upcasters,
  validateEvent,
} from "../../events/index.js";

const envelope = {
  streamId: "release#r1",
  version: 1,
  eventId: "e1",
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "ci", id: "github-actions" },
  correlationId: "c1",
  causationId: "c1",
};
const v1 = {
  releaseId: "r1",
  application: "shop",
  service: "api",
  params: [
    { name: "image", value: "registry/api:1" },
    { name: "replicas", value: 2 },
  ],
  commit: "abc",
  channels: ["staging"],
  configVersions: { application: 1, service: 1 },
};

describe("event catalog", () => {
  it("covers the whole release flow", () => {
    expect(eventTypes).toEqual(
      expect.arrayContaining([
        "ConfigApplied",
        "AgentTokenIssued",
        "RuntimeLinked",
        "ReleaseCreated",
        "PromotionStarted",
        "PreconditionSatisfied",
        "PreconditionBlocked",
        "ApprovalRequested",
        "ApprovalGranted",
        "ApprovalRejected",
        "InstructionDispatched",
        "InstructionAcknowledged",
        "ApplySucceeded",
        "ApplyFailed",
        "ChannelConverged",
        "ReleaseRolledBack",
        "ReleaseAbandoned",
        "ChannelPaused",
        "ChannelResumed",
        "AgentConnected",
        "AgentSuperseded",
        "AgentDisconnected",
      ]),
    );
  });

  it("validates {type, data} pairs through the discriminated union", () => {
    expect(
      DomainEventSchema.safeParse({ type: "ChannelResumed", data: { application: "shop", channel: "production" } })
        .success,
    ).toBe(true);
    expect(DomainEventSchema.safeParse({ type: "ChannelResumed", data: { application: "shop" } }).success).toBe(false);
    expect(DomainEventSchema.safeParse({ type: "Nope", data: {} }).success).toBe(false);
    expect(() =>
      validateEvent({ type: "ApplyFailed", data: { instructionId: "i", runtime: "k", releaseId: "r" } }),
    ).toThrow(/message/);
  });

  it("upcasts ReleaseCreated v1 (params as a list, commit at the top) into v2", () => {
    const event = parseStoredEvent({ ...envelope, type: "ReleaseCreated", schemaVersion: 1, data: v1 });
    expect(event).toMatchObject({ type: "ReleaseCreated", schemaVersion: 2 });
    expect(event.data).toEqual({
      releaseId: "r1",
      application: "shop",
      service: "api",
      params: { image: "registry/api:1", replicas: 2 },
      source: { commit: "abc" },
      channels: ["staging"],
      configVersions: { application: 1, service: 1 },
    });
    const noCommit = parseStoredEvent({
      ...envelope,
      type: "ReleaseCreated",
      schemaVersion: 1,
      data: { ...v1, commit: undefined },
    });
    expect(noCommit.type === "ReleaseCreated" && noCommit.data.source).toEqual({});
    expect(upcasters.map((u) => `${u.type}@${u.from}`)).toContain("ReleaseCreated@1");
  });

  it("refuses event types and schema versions it does not know, rather than guessing", () => {
    expect(() => parseStoredEvent({ ...envelope, type: "SomethingNew", schemaVersion: 1, data: {} })).toThrow(
      UnknownEventTypeError,
    );
    expect(() => parseStoredEvent({ ...envelope, type: "ReleaseCreated", schemaVersion: 3, data: {} })).toThrow(
      UnknownSchemaVersionError,
    );
    expect(() => parseStoredEvent({ ...envelope, type: "PromotionStarted", schemaVersion: 0, data: {} })).toThrow();
  });

  it("reads current events as they are", () => {
    const e = parseStoredEvent({
      ...envelope,
      type: "PromotionStarted",
      schemaVersion: 1,
      data: { releaseId: "r1", channel: "staging" },
    });
    expect(e).toEqual({
      ...envelope,
      type: "PromotionStarted",
      schemaVersion: 1,
      data: { releaseId: "r1", channel: "staging" },
    });
  });
});
