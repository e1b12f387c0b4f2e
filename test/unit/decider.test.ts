import { describe, expect, it } from "vitest";
import {
  accessDecider,
  channelDecider,
  configDecider,
  fold,
  releaseDecider,
  runtimeDecider,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";

const where = { application: "shop", channel: "staging" };
const foreign: Record<string, DomainEvent> = {
  config: { type: "ApiKeyIssued", data: { keyId: "k1", name: "ci", scopes: ["release"], keyHash: "a".repeat(64) } },
  apikeys: { type: "ChannelPaused", data: where },
  runtime: { type: "PromotionStarted", data: { releaseId: "r1", channel: "staging" } },
  release: { type: "ChannelResumed", data: where },
  channel: { type: "ConfigDeleted", data: { kind: "runtime", name: "k8s", version: 2 } },
};
const deciders = {
  config: configDecider,
  apikeys: accessDecider,
  runtime: runtimeDecider,
  release: releaseDecider,
  channel: channelDecider,
};

describe("deciders", () => {
  it("leave their state as it is for an event of a type they do not own, whatever stream it is read from", () => {
    for (const [stream, decider] of Object.entries(deciders)) {
      const state = decider.initialState();
      expect(decider.evolve(state as never, foreign[stream]!), stream).toBe(state);
    }
  });

  it("fold a stream that holds other events as if they were not there", () => {
    const paused: DomainEvent = { type: "ChannelPaused", data: { ...where, reason: "incident" } };
    expect(fold(channelDecider, [foreign.channel!, paused, foreign.runtime!])).toEqual(fold(channelDecider, [paused]));
    expect(fold(channelDecider, [paused]).paused).toEqual({ reason: "incident" });
  });
});
