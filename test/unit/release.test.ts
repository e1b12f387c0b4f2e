import { describe, expect, it } from "vitest";
import { approvalState, releaseDecider, type ReleaseCommand } from "../../core/index.js";
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
const decideApproval = (approver: string, decision: "approve" | "reject", comment?: string): ReleaseCommand => ({
  type: "DecideApproval",
  channel: "production",
  approval: "approval",
  approver,
  decision,
  ...(comment ? { comment } : {}),
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
    it("refuses unknown channels, unknown releases and abandoned releases", () => {
      spec([created]).when({ type: "StartPromotion", channel: "qa" }).thenError("release.unknown_channel", 404);
      spec([]).when({ type: "StartPromotion", channel: "staging" }).thenError("release.not_found", 404);
      spec([created, abandoned])
        .when({ type: "StartPromotion", channel: "staging" })
        .thenError("release.abandoned", 409);
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

    it("refuses a decision nobody asked for, on a channel not entered, or on an abandoned release", () => {
      spec([created, startedProd]).when(decideApproval("alice", "approve")).thenError("approval.not_requested", 409);
      spec([created]).when(decideApproval("alice", "approve")).thenError("release.not_in_channel", 409);
      spec([created, startedProd, requested, abandoned])
        .when(decideApproval("alice", "approve"))
        .thenError("release.abandoned", 409);
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

  it("folds its history into state", () => {
    const state = [created, startedProd, requested].reduce(releaseDecider.evolve, releaseDecider.initialState());
    expect(state).toMatchObject({
      status: "active",
      releaseId: "r1",
      gates: { production: { started: true, approvals: { approval: { minApprovers: 2, grantedBy: [] } } } },
    });
  });
});
