import { describe, expect, it } from "vitest";
import {
  channelDecider,
  fold,
  planPromotion,
  releaseDecider,
  type PromotionInput,
  type Runtime,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { IMAGE, parsed } from "../support/fixtures.js";

const runtimes = new Map<string, Runtime>([
  ["k8s-staging", parsed.staging],
  ["k8s-production", parsed.production],
]);
const NOW = "2026-11-23T10:00:00.000Z";
const created = (releaseId: string): DomainEvent => ({
  type: "ReleaseCreated",
  data: {
    releaseId,
    application: "shop",
    service: "api",
    params: { image: IMAGE },
    source: {},
    channels: ["staging", "production"],
    configVersions: { application: 1, service: 1 },
  },
});
const entered = (releaseId: string, channel: string): DomainEvent => ({
  type: "PromotionStarted",
  data: { releaseId, channel },
});
const payload = { kind: "kubernetes" as const, manifests: ["m"] };
const dispatched = (releaseId: string, channel: string, runtime: string): DomainEvent => ({
  type: "InstructionDispatched",
  data: {
    application: "shop",
    channel,
    service: "api",
    releaseId,
    runtime,
    instructionId: `shop.${channel}.${releaseId}.${runtime}`,
    payload,
    rollback: false,
  },
});
const succeeded = (releaseId: string, channel: string, runtime: string): DomainEvent => ({
  type: "ApplySucceeded",
  data: { instructionId: `shop.${channel}.${releaseId}.${runtime}`, runtime, releaseId },
});
const convergedAt = (releaseId: string, channel: string, at: string): DomainEvent => ({
  type: "ChannelConverged",
  data: { application: "shop", channel, service: "api", releaseId, convergedAt: at },
});

function input(
  release: DomainEvent[],
  channels: Record<string, DomainEvent[]>,
  channel: string,
  now = NOW,
): PromotionInput {
  return {
    now,
    application: parsed.shop,
    service: parsed.api,
    runtimes,
    release: fold(releaseDecider, release),
    channel,
    channels: Object.fromEntries(
      Object.entries(channels).map(([name, events]) => [name, fold(channelDecider, events)]),
    ),
  };
}

const stagingLive = (releaseId: string, at = "2026-11-23T09:55:00.000Z") => [
  dispatched(releaseId, "staging", "k8s-staging"),
  succeeded(releaseId, "staging", "k8s-staging"),
  convergedAt(releaseId, "staging", at),
];

describe("promotion planning", () => {
  it("deploys to the first channel at once, with one rendered instruction per runtime", () => {
    const plan = planPromotion(input([created("r1"), entered("r1", "staging")], {}, "staging"));
    expect(plan.action).toBe("deploy");
    if (plan.action !== "deploy") return;
    expect(plan.instructions).toEqual([
      {
        instructionId: "shop.staging.r1.k8s-staging",
        runtime: "k8s-staging",
        payload: { kind: "kubernetes", manifests: [expect.stringContaining(`image: "${IMAGE}"`)] },
      },
    ]);
  });

  it("waits in production for the soak and the approval, asks for the approval, and says when to look again", () => {
    const plan = planPromotion(
      input(
        [created("r1"), entered("r1", "staging"), entered("r1", "production")],
        { staging: stagingLive("r1") },
        "production",
      ),
    );
    expect(plan).toMatchObject({
      action: "wait",
      requestApprovals: [{ approval: "approval", minApprovers: 1 }],
      wakeAt: "2026-11-23T10:05:00.000Z",
      gates: [
        { key: "releaseChannelStable:staging", result: { state: "blocked", until: "2026-11-23T10:05:00.000Z" } },
        {
          key: "manualApproval:approval",
          result: { state: "blocked", reason: 'waiting for approval "approval": 0 of 1 approver' },
        },
      ],
    });
  });

  it("deploys to production once the soak is over and the approval granted", () => {
    const release = [
      created("r1"),
      entered("r1", "staging"),
      entered("r1", "production"),
      {
        type: "ApprovalRequested",
        data: { releaseId: "r1", channel: "production", approval: "approval", minApprovers: 1 },
      },
      {
        type: "ApprovalGranted",
        data: { releaseId: "r1", channel: "production", approval: "approval", approver: "U123" },
      },
    ] as DomainEvent[];
    const plan = planPromotion(
      input(release, { staging: stagingLive("r1") }, "production", "2026-11-23T10:05:00.000Z"),
    );
    expect(plan.action).toBe("deploy");
    if (plan.action === "deploy")
      expect(plan.instructions?.map((i) => i.instructionId)).toEqual(["shop.production.r1.k8s-production"]);
  });

  it("explains an upstream failure", () => {
    const failed: DomainEvent = {
      type: "ApplyFailed",
      data: {
        instructionId: "shop.staging.r1.k8s-staging",
        runtime: "k8s-staging",
        releaseId: "r1",
        message: "ImagePullBackOff",
      },
    };
    const plan = planPromotion(
      input(
        [created("r1"), entered("r1", "production")],
        { staging: [dispatched("r1", "staging", "k8s-staging"), failed] },
        "production",
      ),
    );
    expect(plan.action === "wait" && plan.gates[0]?.result).toEqual({
      state: "blocked",
      reason: 'release r1 failed in release channel "staging": k8s-staging: ImagePullBackOff',
    });
  });

  it("waits, explaining why, when the instructions cannot be rendered", () => {
    const service = { ...parsed.api, kubernetesConfig: { manifests: ["image: {{.Params.image}}:{{.Params.tag}}"] } };
    const plan = planPromotion({ ...input([created("r1"), entered("r1", "staging")], {}, "staging"), service });
    expect(plan).toMatchObject({
      action: "wait",
      renderProblem: expect.stringContaining('{{.Params.tag}} refers to parameter "tag", which has no value'),
    });
  });

  it("with protectSoak, holds a newer release back while the current one soaks for a later channel", () => {
    const application = {
      ...parsed.shop,
      releaseChannels: [{ ...parsed.shop.releaseChannels[0]!, protectSoak: true }, parsed.shop.releaseChannels[1]!],
    };
    const channels = { staging: stagingLive("r1", "2026-11-23T09:55:00.000Z") };
    const held = planPromotion({
      ...input([created("r2"), entered("r2", "staging")], channels, "staging"),
      application,
    });
    expect(held).toMatchObject({
      action: "wait",
      wakeAt: "2026-11-23T10:05:00.000Z",
      gates: [
        {
          key: "protectSoak",
          result: {
            state: "blocked",
            reason:
              'release r1 is soaking in release channel "staging" for "production" until 2026-11-23T10:05:00.000Z; protectSoak holds newer releases back',
          },
        },
      ],
    });
    expect(
      planPromotion({
        ...input([created("r2"), entered("r2", "staging")], channels, "staging", "2026-11-23T10:05:00.000Z"),
        application,
      }).action,
    ).toBe("deploy");
    // Once production has taken r1, nothing is left to protect.
    expect(
      planPromotion({
        ...input(
          [created("r2"), entered("r2", "staging")],
          { ...channels, production: [dispatched("r1", "production", "k8s-production")] },
          "staging",
        ),
        application,
      }).action,
    ).toBe("deploy");
    // Without the option the newer release goes ahead.
    expect(planPromotion(input([created("r2"), entered("r2", "staging")], channels, "staging")).action).toBe("deploy");
  });

  it("holds a paused channel even when every gate passes", () => {
    const plan = planPromotion(
      input(
        [created("r1"), entered("r1", "staging")],
        { staging: [{ type: "ChannelPaused", data: { application: "shop", channel: "staging", reason: "incident" } }] },
        "staging",
      ),
    );
    expect(plan).toMatchObject({ action: "wait", paused: 'release channel "staging" is paused: incident' });
  });

  it("supersedes an older release when a newer one already runs in the channel", () => {
    const plan = planPromotion(
      input(
        [created("r1"), entered("r1", "staging")],
        { staging: [dispatched("r2", "staging", "k8s-staging")] },
        "staging",
      ),
    );
    expect(plan).toEqual({ action: "supersede", supersededBy: "r2" });
  });

  it("does nothing for a release already dispatched, abandoned, superseded or not in the channel", () => {
    expect(
      planPromotion(
        input(
          [created("r1"), entered("r1", "staging")],
          { staging: [dispatched("r1", "staging", "k8s-staging")] },
          "staging",
        ),
      ),
    ).toEqual({ action: "none", reason: "already dispatched" });
    expect(
      planPromotion(
        input(
          [created("r1"), entered("r1", "staging"), { type: "ReleaseAbandoned", data: { releaseId: "r1" } }],
          {},
          "staging",
        ),
      ).action,
    ).toBe("none");
    expect(
      planPromotion(
        input(
          [
            created("r1"),
            entered("r1", "staging"),
            { type: "ReleaseSuperseded", data: { releaseId: "r1", channel: "staging", supersededBy: "r2" } },
          ],
          {},
          "staging",
        ),
      ).action,
    ).toBe("none");
    expect(planPromotion(input([created("r1")], {}, "staging"))).toEqual({
      action: "none",
      reason: 'the release has not entered release channel "staging"',
    });
  });
});
