import { describe, expect, it } from "vitest";
import {
  channelDecider,
  fold,
  planPromotion,
  Precondition,
  releaseDecider,
  type PromotionInput,
  type Runtime,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { IMAGE, parsed, releaseCreated as created } from "../support/fixtures.js";

const runtimes = new Map<string, Runtime>([
  ["k8s-staging", parsed.staging],
  ["k8s-production", parsed.production],
]);
const NOW = "2026-11-23T10:00:00.000Z";
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

  it("counts a pre-approval given before the release reached production, and still records the request", () => {
    const release = [
      created("r1"),
      entered("r1", "staging"),
      {
        type: "ApprovalGranted",
        data: { releaseId: "r1", channel: "production", approval: "approval", approver: "alice" },
      },
      entered("r1", "production"),
    ] as DomainEvent[];
    const plan = planPromotion(
      input(release, { staging: stagingLive("r1") }, "production", "2026-11-23T10:05:00.000Z"),
    );
    expect(plan).toMatchObject({
      action: "deploy",
      requestApprovals: [{ approval: "approval", minApprovers: 1 }],
      gates: expect.arrayContaining([
        { key: "manualApproval:approval", precondition: expect.anything(), result: { state: "satisfied" } },
      ]),
    });
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
    // At the soak's end the hold stays until production has decided on r1: settle that first.
    const atEnd = {
      ...input([created("r2"), entered("r2", "staging")], channels, "staging", "2026-11-23T10:05:00.000Z"),
      application,
    };
    expect(planPromotion(atEnd)).toMatchObject({
      action: "wait",
      settle: [{ releaseId: "r1", channel: "production" }],
      gates: [{ key: "protectSoak", result: { state: "blocked" } }],
    });
    // Production refused r1 for another reason: the hold is released, and the release says why.
    expect(
      planPromotion({ ...atEnd, settled: { production: 'waiting for approval "approval": 0 of 1 approver' } }),
    ).toMatchObject({
      action: "deploy",
      gates: [
        {
          key: "protectSoak",
          result: {
            state: "satisfied",
            note: 'protectSoak released the hold: "production" did not take r1 (waiting for approval "approval": 0 of 1 approver)',
          },
        },
      ],
    });
    // Production took r1 while being settled: nothing is left to protect, at the soak's end as before it.
    expect(
      planPromotion({
        ...atEnd,
        channels: {
          ...atEnd.channels,
          production: fold(channelDecider, [dispatched("r1", "production", "k8s-production")]),
        },
        settled: { production: "" },
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

  it("never promotes a release marked bad", () => {
    const plan = planPromotion(
      input(
        [
          created("r1"),
          entered("r1", "staging"),
          { type: "ReleaseMarkedBad", data: { releaseId: "r1", reason: "corrupts orders" } },
        ],
        {},
        "staging",
      ),
    );
    expect(plan).toEqual({ action: "none", reason: "the release was marked bad: corrupts orders" });
  });

  describe("after a rollback", () => {
    const rolledBack = [
      ...stagingLive("r1"),
      dispatched("r2", "staging", "k8s-staging"),
      {
        type: "ReleaseRolledBack",
        data: { application: "shop", channel: "staging", service: "api", toReleaseId: "r1", fromReleaseId: "r2" },
      },
      {
        ...dispatched("r1", "staging", "k8s-staging"),
        data: {
          ...(dispatched("r1", "staging", "k8s-staging").data as object),
          instructionId: "shop.staging.r1.k8s-staging.1",
          rollback: true,
        },
      },
    ] as DomainEvent[];
    it("holds the rolled-back release back, saying how to promote it, and asks for nothing", () => {
      const plan = planPromotion(input([created("r2"), entered("r2", "staging")], { staging: rolledBack }, "staging"));
      expect(plan).toEqual({
        action: "wait",
        requestApprovals: [],
        gates: [
          {
            key: "rollback",
            result: {
              state: "blocked",
              reason:
                'release channel "staging" was rolled back from r2; release r2 goes there again only when promoted explicitly (POST /v1/releases/r2/channels/staging/promote)',
            },
          },
        ],
      });
    });
    it("deploys it once explicitly promoted past this hold, naming the hold, and clears the recorded block", () => {
      const release = [
        created("r2"),
        entered("r2", "staging"),
        {
          type: "PreconditionBlocked",
          data: { releaseId: "r2", channel: "staging", precondition: "rollback", reason: "held" },
        },
        {
          type: "ExplicitPromotionRequested",
          data: { releaseId: "r2", channel: "staging", reason: "fixed by config", hold: 1 },
        },
      ] as DomainEvent[];
      const plan = planPromotion(input(release, { staging: rolledBack }, "staging"));
      expect(plan).toMatchObject({
        action: "deploy",
        explicitHold: 1,
        gates: [{ key: "rollback", result: { state: "satisfied" } }],
      });
    });
    it("holds a config release carrying the rolled-back release's params", () => {
      const r3 = [
        { ...created("r3"), data: { ...(created("r3").data as object), cause: "config", basedOn: "r2" } },
        entered("r3", "staging"),
      ] as DomainEvent[];
      const plan = planPromotion(input(r3, { staging: rolledBack }, "staging"));
      expect(plan).toMatchObject({
        action: "wait",
        gates: [
          {
            key: "rollback",
            result: {
              state: "blocked",
              reason: expect.stringContaining(
                "release r3 (carrying the params of r2) goes there again only when promoted explicitly",
              ),
            },
          },
        ],
      });
    });
    it("lets a newer release through", () => {
      expect(
        planPromotion(input([created("r3"), entered("r3", "staging")], { staging: rolledBack }, "staging")).action,
      ).toBe("deploy");
    });
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

describe("promotion planning: freezes, deny windows, overrides and timed pauses", () => {
  const approved = [
    {
      type: "ApprovalRequested",
      data: { releaseId: "r1", channel: "production", approval: "approval", minApprovers: 1 },
    },
    {
      type: "ApprovalGranted",
      data: { releaseId: "r1", channel: "production", approval: "approval", approver: "U123" },
    },
  ] as DomainEvent[];
  const inProduction = [created("r1"), entered("r1", "staging"), entered("r1", "production")];
  const staging = { staging: stagingLive("r1") };
  const AFTER_SOAK = "2026-11-23T10:05:00.000Z";
  const gateOf = (plan: ReturnType<typeof planPromotion>, key: string) =>
    plan.action === "wait" || plan.action === "deploy" ? plan.gates.find((g) => g.key === key)?.result : undefined;

  it("holds production during a freeze of it until the freeze ends, then deploys", () => {
    const application = {
      ...parsed.shop,
      freezes: [
        {
          name: "launch",
          from: "2026-11-23T10:00:00+01:00",
          to: "2026-11-23T12:30:00+01:00",
          reason: "launch day",
          channels: ["production"],
        },
      ],
    };
    const frozen = planPromotion({
      ...input([...inProduction, ...approved], staging, "production", AFTER_SOAK),
      application,
    });
    expect(frozen).toMatchObject({ action: "wait", wakeAt: "2026-11-23T11:30:00.000Z" });
    expect(gateOf(frozen, "freeze:launch")).toEqual({
      state: "blocked",
      reason: 'frozen by "launch" until 2026-11-23T11:30:00.000Z: launch day',
      until: "2026-11-23T11:30:00.000Z",
    });
    // Staging is not frozen.
    expect(
      planPromotion({ ...input([created("r2"), entered("r2", "staging")], {}, "staging"), application }).action,
    ).toBe("deploy");
    const thawed = planPromotion({
      ...input([...inProduction, ...approved], staging, "production", "2026-11-23T11:30:00.000Z"),
      application,
    });
    expect(thawed.action).toBe("deploy");
    expect(gateOf(thawed, "freeze:launch")).toEqual({ state: "satisfied" });
  });

  it("holds a channel inside a deny window until the window closes", () => {
    const application = {
      ...parsed.shop,
      releaseChannels: [
        parsed.shop.releaseChannels[0]!,
        {
          ...parsed.shop.releaseChannels[1]!,
          preconditions: [
            Precondition.parse({
              deployWindow: {
                days: ["mon"],
                start: "10:00",
                end: "12:00",
                timeZone: "Europe/Berlin",
                deny: true,
              },
            }),
          ],
        },
      ],
    };
    const plan = planPromotion({ ...input(inProduction, staging, "production"), application });
    expect(plan).toMatchObject({
      action: "wait",
      wakeAt: "2026-11-23T11:00:00.000Z",
      gates: [{ key: "deployWindow:deny", result: { state: "blocked", until: "2026-11-23T11:00:00.000Z" } }],
    });
    expect(
      planPromotion({ ...input(inProduction, staging, "production", "2026-11-23T11:00:00.000Z"), application }).action,
    ).toBe("deploy");
  });

  const overridden = (gate: string): DomainEvent => ({
    type: "GateOverridden",
    data: { releaseId: "r1", channel: "production", gate, reason: "hotfix for incident 7", by: "alice" },
  });

  it("passes an overridden approval, noting who overrode it and why, and deploys without it", () => {
    const plan = planPromotion(
      input([...inProduction, overridden("manualApproval:approval")], staging, "production", AFTER_SOAK),
    );
    expect(plan.action).toBe("deploy");
    expect(gateOf(plan, "manualApproval:approval")).toEqual({
      state: "satisfied",
      note: "overridden by alice: hotfix for incident 7",
    });
  });

  it("passes an overridden soak, but not the gates nobody overrode", () => {
    const soakOverridden = [...inProduction, overridden("releaseChannelStable:staging")];
    const plan = planPromotion(input(soakOverridden, staging, "production"));
    // The soak would end at 10:05; overridden, nothing waits for it — only the approval blocks.
    expect(plan.action).toBe("wait");
    expect(plan.action === "wait" && plan.wakeAt).toBeUndefined();
    expect(gateOf(plan, "releaseChannelStable:staging")).toEqual({
      state: "satisfied",
      note: "overridden by alice: hotfix for incident 7",
    });
    expect(gateOf(plan, "manualApproval:approval")).toMatchObject({ state: "blocked" });
    expect(planPromotion(input([...soakOverridden, ...approved], staging, "production")).action).toBe("deploy");
  });

  it("says until when a channel is paused", () => {
    const pausedUntil: DomainEvent = {
      type: "ChannelPaused",
      data: { application: "shop", channel: "staging", reason: "incident", until: "2026-11-23T12:00:00.000Z" },
    };
    expect(
      planPromotion(input([created("r1"), entered("r1", "staging")], { staging: [pausedUntil] }, "staging")),
    ).toMatchObject({
      action: "wait",
      paused: 'release channel "staging" is paused until 2026-11-23T12:00:00.000Z: incident',
    });
  });
});
