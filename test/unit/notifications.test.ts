import { describe, expect, it } from "vitest";
import {
  Application,
  instructionId,
  NOTIFICATION_RETRY_DELAYS_S,
  outcomeNotification,
  outcomeOf,
  retryDelay,
  secretsDecider,
  streams,
  targetLabel,
  targetsFor,
  type OutcomeFact,
} from "../../core/index.js";
import type { DomainEvent, StoredEvent } from "../../events/index.js";
import { outcomeMessage } from "../../functions/adapters/slack.js";
import { signBody, signWebhook } from "../../functions/services/credentials.js";
import { specFor } from "../support/spec.js";

function stored(streamId: string, event: DomainEvent, version = 1): StoredEvent {
  return {
    ...event,
    streamId,
    version,
    eventId: `ev-${version}`,
    schemaVersion: 1,
    occurredAt: "2030-01-01T00:00:00.000Z",
    actor: { kind: "system", id: "reactor" },
    correlationId: "req-1",
    causationId: "req-1",
  };
}

const channel = streams.channel("shop", "production");
const dispatched = (runtime: string, attempt = 0, rollback = false) =>
  stored(channel, {
    type: "InstructionDispatched",
    data: {
      instructionId: instructionId("shop", "production", "r1", runtime, attempt),
      releaseId: "r1",
      channel: "production",
      application: "shop",
      service: "api",
      runtime,
      payload: { kind: "kubernetes", manifests: [] },
      rollback,
    },
  });

describe("outcomes: which facts of the log are told, under which key", () => {
  it("tells a dispatch to many runtimes once, and a second dispatch of the same release again", () => {
    const first = [dispatched("eu"), dispatched("us")].map(outcomeOf);
    expect(first.map((f) => f?.key)).toEqual(["r1.production.deployed.0", "r1.production.deployed.0"]);
    expect(first[0]).toMatchObject({ outcome: "deployed", releaseId: "r1", channel: "production" });
    expect(outcomeOf(dispatched("eu", 2))?.key).toBe("r1.production.deployed.2");
  });

  it("leaves a rollback's instructions to the rollback's own event", () => {
    expect(outcomeOf(dispatched("eu", 1, true))).toBeUndefined();
    const rolledBack = stored(
      channel,
      {
        type: "ReleaseRolledBack",
        data: {
          application: "shop",
          channel: "production",
          service: "api",
          fromReleaseId: "r2",
          toReleaseId: "r1",
          reason: "bad",
        },
      },
      7,
    );
    expect(outcomeOf(rolledBack)).toEqual({
      outcome: "rolledBack",
      key: "r2.production.rolledBack.7",
      releaseId: "r2",
      channel: "production",
      rolledBackTo: "r1",
      reason: "bad",
      occurredAt: "2030-01-01T00:00:00.000Z",
    });
  });

  it("keys a convergence by its place in the channel, so converging there again is told again", () => {
    const converged = (version: number) =>
      outcomeOf(
        stored(
          channel,
          {
            type: "ChannelConverged",
            data: {
              releaseId: "r1",
              channel: "production",
              application: "shop",
              service: "api",
              convergedAt: "2030-01-01T00:00:00.000Z",
            },
          },
          version,
        ),
      )?.key;
    expect(converged(4)).toBe("r1.production.converged.4");
    expect(converged(9)).not.toBe(converged(4));
  });

  it("tells a failed apply per runtime with what the agent said, and a release marked bad with why", () => {
    const id = instructionId("shop", "production", "r1", "eu");
    expect(
      outcomeOf(
        stored(channel, {
          type: "ApplyFailed",
          data: { instructionId: id, runtime: "eu", releaseId: "r1", message: "ImagePullBackOff" },
        }),
      ),
    ).toMatchObject({
      outcome: "failed",
      key: `${id}.failed`,
      channel: "production",
      runtime: "eu",
      message: "ImagePullBackOff",
    });
    expect(
      outcomeOf(
        stored(streams.release("r1"), { type: "ReleaseMarkedBad", data: { releaseId: "r1", reason: "errors" } }),
      ),
    ).toMatchObject({ outcome: "markedBad", key: "r1.markedBad", reason: "errors" });
  });

  it("does not tell of other facts", () => {
    expect(
      outcomeOf(
        stored(streams.release("r1"), { type: "PromotionStarted", data: { releaseId: "r1", channel: "production" } }),
      ),
    ).toBeUndefined();
  });
});

describe("targets: who wants an outcome", () => {
  const notifications = Application.parse({
    name: "shop",
    releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s" }] }],
    notifications: {
      slack: { webhookUrl: "https://hooks.slack.com/services/T/B/x", events: ["failed", "rolledBack"] },
      webhooks: [
        { url: "https://ci.example.com/hook?token=abc", secretName: "ci-hook" },
        { url: "https://pager.example.com/in", secretName: "pager", events: ["failed"] },
      ],
    },
  }).notifications;

  it("sends each outcome to the targets listing it, and to those listing none", () => {
    expect(targetsFor(notifications, "converged").map(targetLabel)).toEqual(["webhook https://ci.example.com"]);
    expect(targetsFor(notifications, "failed").map(targetLabel)).toEqual([
      "slack",
      "webhook https://ci.example.com",
      "webhook https://pager.example.com",
    ]);
    expect(targetsFor(undefined, "failed")).toEqual([]);
  });

  it("refuses a webhook without a secret, an unknown outcome and an http URL off this machine, naming the field", () => {
    const refused = Application.safeParse({
      name: "shop",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s" }] }],
      notifications: {
        webhooks: [
          { url: "https://a.example.com" },
          { url: "https://b.example.com", secretName: "s", events: ["exploded"] },
          { url: "http://c.example.com", secretName: "s" },
        ],
      },
    });
    expect(refused.success).toBe(false);
    const paths = refused.error!.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(
      expect.arrayContaining([
        "notifications.webhooks.0.secretName",
        "notifications.webhooks.1.events.0",
        "notifications.webhooks.2.url",
      ]),
    );
  });
});

describe("what a target receives", () => {
  const fact: OutcomeFact = {
    outcome: "failed",
    key: "shop.production.r1.eu.failed",
    releaseId: "r1",
    channel: "production",
    runtime: "eu",
    message: "ImagePullBackOff",
    occurredAt: "2030-01-01T00:00:00.000Z",
  };
  const release = {
    application: "shop",
    service: "api",
    params: { image: "registry.example.com/api:1.2.3" },
    author: "slack:U123",
    source: { commit: "0123456789abcdef0123", branch: "main" },
  };
  const n = outcomeNotification(
    "shop.production.r1.eu.failed.slack",
    fact,
    release,
    "https://slipway.example.com/releases/r1",
  );

  it("is one stable shape, with a sentence a person reads", () => {
    expect(n).toEqual({
      id: "shop.production.r1.eu.failed.slack",
      type: "release.failed",
      occurredAt: "2030-01-01T00:00:00.000Z",
      summary: "shop/api release r1 failed in production on eu: ImagePullBackOff",
      application: "shop",
      service: "api",
      releaseId: "r1",
      channel: "production",
      runtime: "eu",
      message: "ImagePullBackOff",
      params: { image: "registry.example.com/api:1.2.3" },
      author: "slack:U123",
      source: { commit: "0123456789abcdef0123", branch: "main" },
      url: "https://slipway.example.com/releases/r1",
    });
  });

  it("shows in Slack as the sentence, its facts and a button to the release", () => {
    const message = outcomeMessage(n);
    expect(message.text).toBe(n.summary);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain(":x: shop/api release r1 failed in production on eu: ImagePullBackOff");
    expect(text).toContain('"url":"https://slipway.example.com/releases/r1"');
    expect(text).toContain("<@U123>");
    expect(text).toContain("commit `0123456789ab`");
  });

  it("is signed over its timestamp and body, so a replayed old delivery can be told apart", () => {
    expect(signWebhook("k", "1700000000", "{}")).toBe(signBody("k", "1700000000.{}"));
    expect(signWebhook("k", "1700000001", "{}")).not.toBe(signWebhook("k", "1700000000", "{}"));
  });
});

describe("retries", () => {
  it("waits each delay in turn, then gives up", () => {
    expect([1, 2, 3].map((a) => retryDelay(a, [0, 5]))).toEqual([0, 5, undefined]);
    expect(NOTIFICATION_RETRY_DELAYS_S.every((d) => d <= 900)).toBe(true);
  });
});

describe("secrets decider", () => {
  const given = specFor(secretsDecider);
  it("records every set, by name only", () => {
    given([])
      .when({ type: "SetSecret", name: "hook" })
      .then([{ type: "SecretSet", data: { name: "hook" } }]);
  });
  it("deletes a secret that is set, and refuses one that is not", () => {
    given([{ type: "SecretSet", data: { name: "hook" } }])
      .when({ type: "DeleteSecret", name: "hook" })
      .then([{ type: "SecretDeleted", data: { name: "hook" } }]);
    given([
      { type: "SecretSet", data: { name: "hook" } },
      { type: "SecretDeleted", data: { name: "hook" } },
    ])
      .when({ type: "DeleteSecret", name: "hook" })
      .thenError("secret.not_found", 404);
  });
});
