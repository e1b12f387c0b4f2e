import { describe, expect, it } from "vitest";
import { approvalState, releaseDecider, type ApprovalPolicy, type ReleaseCommand } from "../../core/index.js";
import { IMAGE, parsed } from "../support/fixtures.js";
import { specFor } from "../support/spec.js";

const spec = specFor(releaseDecider);
type E = Parameters<typeof spec>[0][number];

const create: ReleaseCommand = {
  type: "CreateRelease",
  releaseId: "r1",
  application: { spec: parsed.shop, version: 2 },
  service: { spec: parsed.api, version: 5 },
  params: { image: IMAGE },
  source: { commit: "abc123", branch: "main" },
};
const created: E = {
  type: "ReleaseCreated",
  data: {
    releaseId: "r1",
    application: "shop",
    service: "api",
    params: { image: IMAGE },
    source: { commit: "abc123", branch: "main" },
    channels: ["staging", "production"],
    configVersions: { application: 2, service: 5 },
  },
};
const inChannel = (channel: string) => ({ releaseId: "r1", channel });
const startedProd: E = { type: "PromotionStarted", data: inChannel("production") };
const requested: E = {
  type: "ApprovalRequested",
  data: { ...inChannel("production"), approval: "approval", minApprovers: 2 },
};
const abandoned: E = { type: "ReleaseAbandoned", data: { releaseId: "r1", reason: "bad build" } };
type Decision = Extract<ReleaseCommand, { type: "DecideApproval" }>;
/** Anyone with the approve scope may decide; two must approve. */
const openPolicy: ApprovalPolicy = { minApprovers: 2, approvers: [], allowSelfApproval: false };
const decideApproval = (
  approver: string,
  decision: "approve" | "reject",
  comment?: string,
  facts: Partial<Pick<Decision, "policy" | "inChannel" | "channel">> = {},
): ReleaseCommand => ({
  type: "DecideApproval",
  channel: "production",
  approval: "approval",
  approver,
  decision,
  ...(comment ? { comment } : {}),
  policy: openPolicy,
  inChannel: { state: "waiting" },
  ...facts,
});

describe("release decider", () => {
  describe("CreateRelease", () => {
    it("records the release with its resolved params and the config versions it was made from, entering its first channel", () => {
      spec([])
        .when(create)
        .then([created, { type: "PromotionStarted", data: { releaseId: created.data.releaseId, channel: "staging" } }]);
    });

    it("fills in defaults and accepts numbers for number params", () => {
      const service = {
        ...parsed.api,
        parameters: [
          ...parsed.api.parameters,
          { name: "replicas", type: "number" as const, required: false, default: 2 },
          { name: "note", type: "string" as const, required: false },
        ],
      };
      const events = releaseDecider.decide(
        { ...create, service: { spec: service, version: 1 } },
        releaseDecider.initialState(),
      );
      expect(events[0]?.type === "ReleaseCreated" && events[0].data.params).toEqual({ image: IMAGE, replicas: 2 });
    });

    it("names every missing, unknown or mistyped param", () => {
      const service = {
        ...parsed.api,
        parameters: [...parsed.api.parameters, { name: "replicas", type: "number" as const, required: true }],
      };
      const err = spec([])
        .when({ ...create, service: { spec: service, version: 1 }, params: { replicas: "three", colour: "blue" } })
        .thenError("release.invalid_params", 400);
      expect(err.issues).toEqual([
        { path: "params.colour", message: "params.colour is not a parameter of this service" },
        { path: "params.image", message: "params.image is required" },
        { path: "params.replicas", message: "params.replicas must be a number" },
      ]);
      const bad = spec([])
        .when({ ...create, params: { image: "Not an image" } })
        .thenError("release.invalid_params");
      expect(bad.issues[0]?.message).toMatch(/^params.image must be a docker image reference/);
    });

    it("refuses a service of another application", () => {
      spec([])
        .when({ ...create, service: { spec: { ...parsed.api, application: "bank" }, version: 1 } })
        .thenError("release.wrong_application", 400);
    });

    it("refuses to create the same release twice", () => {
      spec([created]).when(create).thenError("release.exists", 409);
    });
  });

  describe("StartPromotion", () => {
    it("enters a channel once", () => {
      spec([created]).when({ type: "StartPromotion", channel: "production" }).then([startedProd]);
      spec([created, startedProd]).when({ type: "StartPromotion", channel: "production" }).thenNothing();
    });
    it("refuses unknown channels and unknown releases", () => {
      spec([created]).when({ type: "StartPromotion", channel: "qa" }).thenError("release.unknown_channel", 404);
      spec([]).when({ type: "StartPromotion", channel: "staging" }).thenError("release.not_found", 404);
      spec([created, abandoned])
        .when({ type: "StartPromotion", channel: "qa" })
        .thenError("release.unknown_channel", 404);
    });
    it("enters nothing once the release is abandoned: a convergence that raced the abandonment is stale", () => {
      spec([created, abandoned]).when({ type: "StartPromotion", channel: "production" }).thenNothing();
    });
  });

  describe("RecordPreconditionResult", () => {
    const blocked: ReleaseCommand = {
      type: "RecordPreconditionResult",
      channel: "production",
      precondition: "releaseChannelStable:staging",
      result: { state: "blocked", reason: "staging has not been stable for 10m", until: "2026-11-23T10:10:00.000Z" },
    };
    const blockedEvent: E = {
      type: "PreconditionBlocked",
      data: {
        ...inChannel("production"),
        precondition: "releaseChannelStable:staging",
        reason: "staging has not been stable for 10m",
        until: "2026-11-23T10:10:00.000Z",
      },
    };
    const satisfied: ReleaseCommand = {
      type: "RecordPreconditionResult",
      channel: "production",
      precondition: "releaseChannelStable:staging",
      result: { state: "satisfied" },
    };
    const satisfiedEvent: E = {
      type: "PreconditionSatisfied",
      data: { ...inChannel("production"), precondition: "releaseChannelStable:staging" },
    };

    it("records a change of a gate's result", () => {
      spec([created, startedProd]).when(blocked).then([blockedEvent]);
      spec([created, startedProd, blockedEvent]).when(satisfied).then([satisfiedEvent]);
    });
    it("records nothing when a re-evaluation finds the same result (duplicate or stale messages)", () => {
      spec([created, startedProd, blockedEvent]).when(blocked).thenNothing();
      spec([created, startedProd, satisfiedEvent]).when(satisfied).thenNothing();
    });
    it("records a new reason or wait time", () => {
      spec([created, startedProd, blockedEvent])
        .when({ ...blocked, result: { state: "blocked", reason: "outside the deploy window" } })
        .then([
          {
            type: "PreconditionBlocked",
            data: {
              ...inChannel("production"),
              precondition: "releaseChannelStable:staging",
              reason: "outside the deploy window",
            },
          },
        ]);
    });
    it("ignores re-evaluations of an abandoned release and refuses channels not entered", () => {
      spec([created, startedProd, abandoned]).when(satisfied).thenNothing();
      spec([created]).when(satisfied).thenError("release.not_in_channel", 409);
    });
  });

  describe("approvals", () => {
    it("requests an approval once", () => {
      spec([created, startedProd])
        .when({ type: "RequestApproval", channel: "production", approval: "approval", minApprovers: 2 })
        .then([requested]);
      spec([created, startedProd, requested])
        .when({ type: "RequestApproval", channel: "production", approval: "approval", minApprovers: 2 })
        .thenNothing();
    });

    it("counts distinct approvers until enough have approved", () => {
      const alice: E = {
        type: "ApprovalGranted",
        data: { ...inChannel("production"), approval: "approval", approver: "alice" },
      };
      spec([created, startedProd, requested]).when(decideApproval("alice", "approve")).then([alice]);
      spec([created, startedProd, requested, alice]).when(decideApproval("alice", "approve")).thenNothing();
      const state = spec([created, startedProd, requested, alice]).when(decideApproval("bob", "approve")).state();
      if (state.status === "none") throw new Error("no release");
      expect(approvalState(state.gates.production?.approvals.approval)).toBe("approved");
      const one = spec([created, startedProd, requested]).when(decideApproval("alice", "approve")).state();
      if (one.status === "none") throw new Error("no release");
      expect(approvalState(one.gates.production?.approvals.approval)).toBe("pending");
    });

    it("keeps what an approver said when approving", () => {
      spec([created, startedProd, requested])
        .when(decideApproval("alice", "approve", "checked the dashboards"))
        .then([
          {
            type: "ApprovalGranted",
            data: {
              ...inChannel("production"),
              approval: "approval",
              approver: "alice",
              comment: "checked the dashboards",
            },
          },
        ]);
    });

    it("lets any approver reject, after which the approval stays rejected", () => {
      const rejected: E = {
        type: "ApprovalRejected",
        data: { ...inChannel("production"), approval: "approval", approver: "carol", comment: "error rate up" },
      };
      spec([created, startedProd, requested])
        .when(decideApproval("carol", "reject", "error rate up"))
        .then([rejected]);
      spec([created, startedProd, requested, rejected])
        .when(decideApproval("alice", "approve"))
        .thenError("approval.rejected", 409);
      spec([created, startedProd, requested, rejected]).when(decideApproval("dave", "reject")).thenNothing();
      const state = spec([created, startedProd, requested, rejected]).when(decideApproval("dave", "reject")).state();
      if (state.status === "none") throw new Error("no release");
      expect(approvalState(state.gates.production?.approvals.approval)).toBe("rejected");
    });

    it("refuses a decision on an approval the channel does not define, or in a channel the application lacks", () => {
      spec([created, startedProd])
        .when(decideApproval("alice", "approve", undefined, { policy: undefined }))
        .thenError("approval.unknown", 404);
      spec([created])
        .when(decideApproval("alice", "approve", undefined, { channel: "canary" }))
        .thenError("release.unknown_channel", 404);
    });
  });

  describe("pre-approval", () => {
    const alice: E = {
      type: "ApprovalGranted",
      data: { ...inChannel("production"), approval: "approval", approver: "alice" },
    };
    const gatesOf = (given: E[], command: ReleaseCommand) => {
      const state = spec(given).when(command).state();
      if (state.status === "none") throw new Error("no release");
      return state.gates.production;
    };

    it("records an approval for a channel the release has not reached yet, not yet requested", () => {
      spec([created]).when(decideApproval("alice", "approve")).then([alice]);
      spec([created, alice]).when(decideApproval("alice", "approve")).thenNothing();
      expect(gatesOf([created], decideApproval("alice", "approve"))).toEqual({
        started: false,
        preconditions: {},
        approvals: { approval: { requested: false, grantedBy: ["alice"] } },
      });
    });

    it("keeps the pre-approvals when the release reaches the gate and asks for the approval", () => {
      const request: ReleaseCommand = {
        type: "RequestApproval",
        channel: "production",
        approval: "approval",
        minApprovers: 2,
      };
      spec([created, alice, startedProd]).when(request).then([requested]);
      spec([created, alice, startedProd, requested]).when(request).thenNothing();
      expect(gatesOf([created, alice, startedProd], request)?.approvals).toEqual({
        approval: { requested: true, minApprovers: 2, grantedBy: ["alice"] },
      });
      const bob = gatesOf([created, alice, startedProd, requested], decideApproval("bob", "approve"));
      expect(approvalState(bob?.approvals.approval)).toBe("approved");
    });

    it("records a rejection in advance, which blocks the release once it gets there", () => {
      const rejected: E = {
        type: "ApprovalRejected",
        data: { ...inChannel("production"), approval: "approval", approver: "carol" },
      };
      spec([created]).when(decideApproval("carol", "reject")).then([rejected]);
      spec([created, rejected]).when(decideApproval("alice", "approve")).thenError("approval.rejected", 409);
    });
  });

  describe("approvals only while the release waits for them", () => {
    const refused = (given: E[], facts: Partial<Pick<Decision, "inChannel">> = {}) =>
      spec(given)
        .when(decideApproval("alice", "approve", undefined, facts))
        .thenError("approval.not_pending", 409);

    it("refuses a release the channel took, went back from, or replaced — naming its state there", () => {
      const deployed = refused([created, startedProd, requested], { inChannel: { state: "deployed" } });
      expect(deployed.extensions).toEqual({ releaseState: "deployed" });
      expect(deployed.message).toBe(
        'release r1 is not waiting for approval "approval" in release channel "production": it was deployed there',
      );
      const back = refused([created, startedProd, requested], { inChannel: { state: "rolledBack", to: "r0" } });
      expect(back.extensions).toEqual({ releaseState: "rolledBack" });
      expect(back.message).toContain("rolled back to r0");
      const replaced = refused([created, startedProd, requested], { inChannel: { state: "replaced", by: "r2" } });
      expect(replaced.extensions).toEqual({ releaseState: "replaced" });
    });

    it("refuses a superseded release: recorded on the release, seen in the channel, or stuck in an earlier channel", () => {
      const superseded = (channel: string): E => ({
        type: "ReleaseSuperseded",
        data: { ...inChannel(channel), supersededBy: "r2" },
      });
      expect(refused([created, startedProd, requested, superseded("production")]).message).toContain(
        "superseded there by r2",
      );
      expect(
        refused([created, startedProd, requested], { inChannel: { state: "superseded", by: "r2" } }).extensions,
      ).toEqual({ releaseState: "superseded" });
      const stuck = refused([created, { type: "PromotionStarted", data: inChannel("staging") }, superseded("staging")]);
      expect(stuck.message).toContain('superseded by r2 in release channel "staging" and will not get there');
    });

    it("refuses an abandoned release or one marked bad", () => {
      expect(refused([created, startedProd, requested, abandoned]).extensions).toEqual({ releaseState: "abandoned" });
      const bad: E = { type: "ReleaseMarkedBad", data: { releaseId: "r1", reason: "corrupts carts" } };
      expect(refused([created, startedProd, requested, bad]).message).toContain("marked bad (corrupts carts)");
      expect(refused([created, bad]).extensions).toEqual({ releaseState: "bad" });
    });
  });

  describe("approval policy", () => {
    const granted = (approver: string): E => ({
      type: "ApprovalGranted",
      data: { ...inChannel("production"), approval: "approval", approver },
    });
    const listed = { policy: { ...openPolicy, approvers: ["alice", "slack:U024BE7LH"] } };

    it("lets only the gate's approvers decide, by API key name or Slack identity", () => {
      spec([created, startedProd, requested])
        .when(decideApproval("slack:U024BE7LH", "approve", undefined, listed))
        .then([granted("slack:U024BE7LH")]);
      spec([created, startedProd, requested])
        .when(decideApproval("alice", "approve", undefined, listed))
        .then([granted("alice")]);
      const bob = spec([created, startedProd, requested])
        .when(decideApproval("bob", "approve", undefined, listed))
        .thenError("approval.not_an_approver", 403);
      expect(bob.message).toBe(
        'bob is not one of the approvers of approval "approval" in release channel "production"',
      );
      spec([created, startedProd, requested])
        .when(decideApproval("slack:U999", "reject", undefined, listed))
        .thenError("approval.not_an_approver", 403);
    });

    it("refuses the author's approval of their own release unless the gate allows it; they may still reject", () => {
      const byAlice = { ...created, data: { ...created.data, author: "alice" } } as E;
      spec([byAlice, startedProd, requested])
        .when(decideApproval("alice", "approve"))
        .thenError("approval.self_approval", 403);
      spec([byAlice]).when(decideApproval("alice", "approve")).thenError("approval.self_approval", 403);
      spec([byAlice, startedProd, requested])
        .when(decideApproval("alice", "approve", undefined, { policy: { ...openPolicy, allowSelfApproval: true } }))
        .then([granted("alice")]);
      spec([byAlice, startedProd, requested])
        .when(decideApproval("alice", "reject"))
        .then([
          { type: "ApprovalRejected", data: { ...inChannel("production"), approval: "approval", approver: "alice" } },
        ]);
      spec([byAlice, startedProd, requested])
        .when(decideApproval("bob", "approve"))
        .then([granted("bob")]);
    });

    it("records the author CI names with the release", () => {
      const events = releaseDecider.decide({ ...create, author: "slack:U024BE7LH" }, releaseDecider.initialState());
      expect(events[0]?.type === "ReleaseCreated" && events[0].data.author).toBe("slack:U024BE7LH");
      const state = events.reduce(releaseDecider.evolve, releaseDecider.initialState());
      expect(state.status !== "none" && state.author).toBe("slack:U024BE7LH");
    });
  });

  describe("SupersedeRelease and AbandonRelease", () => {
    it("marks a release superseded in a channel once", () => {
      const superseded: E = { type: "ReleaseSuperseded", data: { ...inChannel("production"), supersededBy: "r2" } };
      spec([created]).when({ type: "SupersedeRelease", channel: "production", supersededBy: "r2" }).then([superseded]);
      spec([created, superseded])
        .when({ type: "SupersedeRelease", channel: "production", supersededBy: "r3" })
        .thenNothing();
    });
    it("abandons once and refuses further changes", () => {
      spec([created]).when({ type: "AbandonRelease", reason: "bad build" }).then([abandoned]);
      spec([created])
        .when({ type: "AbandonRelease" })
        .then([{ type: "ReleaseAbandoned", data: { releaseId: "r1" } }]);
      spec([created, abandoned]).when({ type: "AbandonRelease" }).thenNothing();
      spec([]).when({ type: "AbandonRelease" }).thenError("release.not_found", 404);
      spec([created, abandoned])
        .when({ type: "SupersedeRelease", channel: "staging", supersededBy: "r2" })
        .thenError("release.abandoned", 409);
    });
  });

  describe("OverrideGate", () => {
    const blocked = (precondition: string, reason: string): E => ({
      type: "PreconditionBlocked",
      data: { ...inChannel("production"), precondition, reason },
    });
    const waitingForApproval = blocked("manualApproval:approval", 'waiting for approval "approval": 0 of 2 approvers');
    const override = (gate: string, channel = "production"): ReleaseCommand => ({
      type: "OverrideGate",
      channel,
      gate,
      reason: "hotfix for incident 7",
      by: "alice",
    });
    const overridden: E = {
      type: "GateOverridden",
      data: {
        ...inChannel("production"),
        gate: "manualApproval:approval",
        reason: "hotfix for incident 7",
        by: "alice",
      },
    };

    it("records who overrode a blocked approval or soak, and why — once", () => {
      spec([created, startedProd, waitingForApproval]).when(override("manualApproval:approval")).then([overridden]);
      spec([created, startedProd, waitingForApproval, overridden])
        .when(override("manualApproval:approval"))
        .thenNothing();
      const soaking = blocked("releaseChannelStable:staging", 'release channel "staging" must stay healthy for 10m');
      spec([created, startedProd, soaking])
        .when(override("releaseChannelStable:staging"))
        .then([{ type: "GateOverridden", data: { ...overridden.data, gate: "releaseChannelStable:staging" } }]);
    });

    it("keeps the override in the channel's state: who and why, by gate", () => {
      const state = spec([created, startedProd, waitingForApproval]).when(override("manualApproval:approval")).state();
      expect(state.status !== "none" && state.gates.production?.overrides).toEqual({
        "manualApproval:approval": { by: "alice", reason: "hotfix for incident 7" },
      });
    });

    it("refuses gates of a kind that may not be overridden, naming the field", () => {
      for (const gate of ["deployWindow", "deployWindow:deny", "freeze:xmas", "protectSoak", "render"]) {
        const err = spec([created, startedProd, blocked(gate, "closed")])
          .when(override(gate))
          .thenError("override.not_allowed", 400);
        expect(err.issues).toEqual([{ path: "gate", message: `gate "${gate}" is not of a kind an override may lift` }]);
      }
    });

    it("refuses a gate that does not block the release there, now or ever", () => {
      spec([created, startedProd]).when(override("manualApproval:approval")).thenError("override.not_blocked", 409);
      spec([
        created,
        startedProd,
        waitingForApproval,
        {
          type: "PreconditionSatisfied",
          data: { ...inChannel("production"), precondition: "manualApproval:approval" },
        },
      ])
        .when(override("manualApproval:approval"))
        .thenError("override.not_blocked", 409);
    });

    it("refuses a channel the release has not entered, one the application lacks, and an abandoned release", () => {
      spec([created]).when(override("manualApproval:approval")).thenError("release.not_in_channel", 409);
      spec([created]).when(override("manualApproval:approval", "qa")).thenError("release.unknown_channel", 404);
      spec([created, startedProd, waitingForApproval, abandoned])
        .when(override("manualApproval:approval"))
        .thenError("release.abandoned", 409);
      spec([]).when(override("manualApproval:approval")).thenError("release.not_found", 404);
    });
  });

  it("folds its history into state", () => {
    const state = [created, startedProd, requested].reduce(releaseDecider.evolve, releaseDecider.initialState());
    expect(state).toMatchObject({
      status: "active",
      releaseId: "r1",
      gates: { production: { started: true, approvals: { approval: { minApprovers: 2, grantedBy: [] } } } },
    });
  });
});
