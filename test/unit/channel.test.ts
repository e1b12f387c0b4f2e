import { describe, expect, it } from "vitest";
import { channelDecider, type ChannelCommand, type PlannedInstruction } from "../../core/index.js";
import { specFor } from "../support/spec.js";

const spec = specFor(channelDecider);
type E = Parameters<typeof spec>[0][number];

const where = { application: "shop", channel: "production" };
const payload = { kind: "kubernetes" as const, manifests: ["kind: Deployment"] };
const plan = (...runtimes: string[]): PlannedInstruction[] =>
  runtimes.map((runtime) => ({ instructionId: `i-${runtime}`, runtime, payload }));
const deploy = (releaseId: string, ...runtimes: string[]): Extract<ChannelCommand, { type: "DeployRelease" }> => ({
  type: "DeployRelease",
  ...where,
  service: "api",
  releaseId,
  instructions: plan(...runtimes).map((p) => ({ ...p, instructionId: `${releaseId}-${p.runtime}` })),
});
const dispatched = (releaseId: string, runtime: string, rollback = false): E => ({
  type: "InstructionDispatched",
  data: { ...where, service: "api", releaseId, runtime, instructionId: `${releaseId}-${runtime}`, payload, rollback },
});
const NOW = "2026-11-23T10:00:00.000Z";
const converged = (releaseId: string): E => ({
  type: "ChannelConverged",
  data: { ...where, service: "api", releaseId, convergedAt: NOW },
});
const failure = (releaseId: string, runtime: string, message?: string): ChannelCommand => ({
  type: "ReportApplyFailure",
  instructionId: `${releaseId}-${runtime}`,
  runtime,
  ...(message ? { message } : {}),
});
/** The convergence count says these instructions of the release succeeded. */
const convergence = (releaseId: string, ...succeeded: string[]): ChannelCommand => ({
  type: "RecordConvergence",
  service: "api",
  releaseId,
  succeeded,
  now: NOW,
});
const paused: E = { type: "ChannelPaused", data: { ...where, reason: "incident 42" } };
const r1Live = [dispatched("r1", "eu"), converged("r1")];

describe("channel decider", () => {
  describe("DeployRelease", () => {
    it("dispatches one instruction per runtime", () => {
      spec([])
        .when(deploy("r1", "eu", "us"))
        .then([dispatched("r1", "eu"), dispatched("r1", "us")]);
    });
    it("does nothing when the release is already what the channel should run", () => {
      spec([dispatched("r1", "eu")])
        .when(deploy("r1", "eu"))
        .thenNothing();
    });
    it("refuses while the channel is paused", () => {
      spec([paused]).when(deploy("r1", "eu")).thenError("channel.paused", 409);
    });
    it("refuses an empty plan and reused instruction ids", () => {
      spec([])
        .when({ type: "DeployRelease", ...where, service: "api", releaseId: "r1", instructions: [] })
        .thenError("channel.no_runtimes", 400);
      spec([dispatched("r1", "eu")])
        .when({
          type: "DeployRelease",
          ...where,
          service: "api",
          releaseId: "r2",
          instructions: [{ instructionId: "r1-eu", runtime: "eu", payload }],
        })
        .thenError("instruction.duplicate_id", 409);
    });
  });

  describe("a dispatch in parts (more runtimes than one append holds)", () => {
    const part = (releaseId: string, total: number, ...runtimes: string[]): ChannelCommand => ({
      ...deploy(releaseId, ...runtimes),
      total,
    });
    const counted = (releaseId: string, runtime: string, instructionCount: number): E => {
      const e = dispatched(releaseId, runtime) as Extract<E, { type: "InstructionDispatched" }>;
      return { ...e, data: { ...e.data, instructionCount } };
    };
    const firstPart = [counted("r1", "eu", 3), counted("r1", "us", 3)];
    it("names the total in every part, and a later part dispatches only runtimes not yet instructed", () => {
      spec([])
        .when(part("r1", 3, "eu", "us"))
        .then(firstPart);
      spec(firstPart)
        .when(part("r1", 3, "eu", "us", "ap"))
        .then([counted("r1", "ap", 3)]);
      spec(firstPart)
        .when(part("r1", 3, "eu", "us"))
        .thenNothing();
    });
    it("does not converge until every part is dispatched and succeeded", () => {
      spec(firstPart)
        .when(convergence("r1", "r1-eu", "r1-us"))
        .thenNothing();
      spec([...firstPart, counted("r1", "ap", 3)])
        .when(convergence("r1", "r1-eu", "r1-us"))
        .thenNothing();
      spec([...firstPart, counted("r1", "ap", 3)])
        .when(convergence("r1", "r1-eu", "r1-us", "r1-ap"))
        .then([converged("r1")]);
    });
    it("sends a dispatch that fits one append as before, without a count", () => {
      spec([])
        .when(part("r1", 2, "eu", "us"))
        .then([dispatched("r1", "eu"), dispatched("r1", "us")]);
    });
  });

  describe("agent reports: failures (the channel's; progress is the runtime's delivery stream's)", () => {
    it("records a failure with its message, once", () => {
      const failed = (message: string): E => ({
        type: "ApplyFailed",
        data: { instructionId: "r1-eu", runtime: "eu", service: "api", releaseId: "r1", message },
      });
      spec([dispatched("r1", "eu")])
        .when(failure("r1", "eu", "ImagePullBackOff"))
        .then([failed("ImagePullBackOff")]);
      spec([dispatched("r1", "eu")])
        .when(failure("r1", "eu"))
        .then([failed("the apply failed")]);
      spec([dispatched("r1", "eu"), failed("ImagePullBackOff")])
        .when(failure("r1", "eu", "again"))
        .thenNothing();
    });
    it("refuses reports for unknown instructions or from another runtime", () => {
      spec([]).when(failure("r1", "eu")).thenError("instruction.not_found", 404);
      spec([dispatched("r1", "eu")])
        .when({ ...failure("r1", "eu"), runtime: "us" } as ChannelCommand)
        .thenError("instruction.wrong_runtime", 403);
    });
  });

  describe("convergence (RecordConvergence, from the convergence count)", () => {
    it("converges only when every runtime has succeeded with the desired release", () => {
      spec([dispatched("r1", "eu"), dispatched("r1", "us")])
        .when(convergence("r1", "r1-eu"))
        .thenNothing();
      spec([dispatched("r1", "eu"), dispatched("r1", "us")])
        .when(convergence("r1", "r1-eu", "r1-us"))
        .then([converged("r1")]);
    });
    it("converges once per dispatch", () => {
      spec([dispatched("r1", "eu"), converged("r1")])
        .when(convergence("r1", "r1-eu"))
        .thenNothing();
    });
    it("does not converge on a late success for a release that is no longer desired", () => {
      spec([dispatched("r1", "eu"), dispatched("r2", "eu")])
        .when(convergence("r1", "r1-eu"))
        .thenNothing();
    });
    it("converges a rollback's dispatch of a release that converged before only on its own instructions", () => {
      const back: E[] = [
        ...r1Live,
        dispatched("r2", "eu"),
        { type: "ReleaseRolledBack", data: { ...where, service: "api", toReleaseId: "r1", fromReleaseId: "r2" } },
        {
          type: "InstructionDispatched",
          data: {
            ...where,
            service: "api",
            releaseId: "r1",
            runtime: "eu",
            instructionId: "r1-eu-1",
            payload,
            rollback: true,
          },
        },
      ];
      spec(back).when(convergence("r1", "r1-eu")).thenNothing();
      spec(back)
        .when(convergence("r1", "r1-eu", "r1-eu-1"))
        .then([converged("r1")]);
    });
    it("still folds logs that kept every report in the channel's stream", () => {
      const legacy = [
        dispatched("r1", "eu"),
        { type: "ApplySucceeded", data: { instructionId: "r1-eu", runtime: "eu", releaseId: "r1" } },
        converged("r1"),
      ] as unknown as E[];
      const state = spec(legacy).when(failure("r1", "eu")).state();
      expect(state.instructions["r1-eu"]?.status).toBe("succeeded");
      expect(state.services.api?.desired?.converged).toBe(true);
      spec(legacy).when(failure("r1", "eu")).thenNothing();
    });
  });

  describe("RollbackService", () => {
    const rollback = (to: string): ChannelCommand => ({
      type: "RollbackService",
      ...where,
      service: "api",
      toReleaseId: to,
      instructions: [{ instructionId: `${to}-eu`, runtime: "eu", payload }].map((p) => ({
        ...p,
        instructionId: `${to}-eu-rb`,
      })),
      reason: "errors",
    });
    it("dispatches an earlier converged release again, recorded as a rollback", () => {
      spec([...r1Live, dispatched("r2", "eu")])
        .when(rollback("r1"))
        .then([
          {
            type: "ReleaseRolledBack",
            data: { ...where, service: "api", toReleaseId: "r1", fromReleaseId: "r2", reason: "errors" },
          },
          {
            type: "InstructionDispatched",
            data: {
              ...where,
              service: "api",
              releaseId: "r1",
              runtime: "eu",
              instructionId: "r1-eu-rb",
              payload,
              rollback: true,
            },
          },
        ]);
    });
    it("refuses a release that never converged here", () => {
      spec([...r1Live, dispatched("r2", "eu")])
        .when(rollback("r2"))
        .thenError("rollback.unknown_release", 409);
    });
    it("rolls back in a paused channel too: pause holds automatic promotion only", () => {
      const events = spec([...r1Live, dispatched("r2", "eu"), paused])
        .when(rollback("r1"))
        .state();
      expect(events.services.api?.desired).toMatchObject({ releaseId: "r1", rollback: true });
    });
    it("does nothing when the channel already runs that release", () => {
      spec([...r1Live])
        .when(rollback("r1"))
        .thenNothing();
    });
  });

  describe("a rollback stays", () => {
    const rolledBack: E[] = [
      ...r1Live,
      dispatched("r2", "eu"),
      { type: "ReleaseRolledBack", data: { ...where, service: "api", toReleaseId: "r1", fromReleaseId: "r2" } },
      dispatched("r1", "eu", true),
    ];
    /** A second dispatch of a release numbers its instruction ids past the first. */
    const again = (releaseId: string, explicitHold?: number): ChannelCommand => ({
      ...deploy(releaseId),
      instructions: [{ instructionId: `${releaseId}-eu-2`, runtime: "eu", payload }],
      ...(explicitHold !== undefined ? { explicitHold } : {}),
    });
    const redispatched = (releaseId: string): E => ({
      type: "InstructionDispatched",
      data: {
        ...where,
        service: "api",
        releaseId,
        runtime: "eu",
        instructionId: `${releaseId}-eu-2`,
        payload,
        rollback: false,
      },
    });
    it("refuses the rolled-back release, and anything older, unless explicitly promoted past this hold", () => {
      spec(rolledBack).when(again("r2")).thenError("channel.rolled_back", 409);
      spec(rolledBack).when(deploy("r1a", "eu")).thenError("channel.rolled_back", 409);
      spec(rolledBack)
        .when(again("r2", 1))
        .then([redispatched("r2")]);
    });
    it("lets a newer release through, but not a config release carrying the rolled-back params", () => {
      spec(rolledBack)
        .when(deploy("r3", "eu"))
        .then([dispatched("r3", "eu")]);
      spec(rolledBack)
        .when({ ...deploy("r3", "eu"), basedOn: "r2" })
        .thenError("channel.rolled_back", 409);
      spec(rolledBack)
        .when({ ...deploy("r3", "eu"), basedOn: "r2", explicitHold: 1 })
        .then([dispatched("r3", "eu")]);
    });
    it("holds again after the next rollback: an explicit promotion of the old hold no longer counts", () => {
      const twice: E[] = [
        ...rolledBack,
        redispatched("r2"),
        converged("r2"),
        { type: "ReleaseRolledBack", data: { ...where, service: "api", toReleaseId: "r1", fromReleaseId: "r2" } },
        dispatched("r1", "eu", true),
      ];
      const third = (explicitHold: number): ChannelCommand => ({
        ...deploy("r2"),
        instructions: [{ instructionId: "r2-eu-3", runtime: "eu", payload }],
        explicitHold,
      });
      spec(twice).when(third(1)).thenError("channel.rolled_back", 409);
      spec(twice)
        .when(third(2))
        .then([{ ...redispatched("r2"), data: { ...redispatched("r2").data, instructionId: "r2-eu-3" } } as E]);
    });
  });

  describe("pause and resume", () => {
    it("pauses and resumes once each", () => {
      spec([])
        .when({ type: "PauseChannel", ...where, reason: "incident 42" })
        .then([paused]);
      spec([paused])
        .when({ type: "PauseChannel", ...where })
        .thenNothing();
      spec([paused])
        .when({ type: "ResumeChannel", ...where })
        .then([{ type: "ChannelResumed", data: where }]);
      spec([])
        .when({ type: "ResumeChannel", ...where })
        .thenNothing();
      spec([paused, { type: "ChannelResumed", data: where }])
        .when(deploy("r1", "eu"))
        .then([dispatched("r1", "eu")]);
    });
  });

  describe("a pause until a time", () => {
    const until = "2026-11-23T12:00:00.000Z";
    const later = "2026-11-23T14:00:00.000Z";
    const pausedUntil = (at: string): E => ({
      type: "ChannelPaused",
      data: { ...where, reason: "incident 42", until: at },
    });
    const expire = (at: string, now = at): ChannelCommand => ({ type: "ExpirePause", ...where, until: at, now });

    it("records when the pause ends, which the channel's state shows", () => {
      const command: ChannelCommand = { type: "PauseChannel", ...where, reason: "incident 42", until, now: NOW };
      spec([])
        .when(command)
        .then([pausedUntil(until)]);
      expect(spec([]).when(command).state().paused).toEqual({ reason: "incident 42", until });
    });

    it("refuses an until that is not in the future, naming the field", () => {
      for (const at of [NOW, "2026-11-23T09:00:00.000Z"]) {
        const err = spec([])
          .when({ type: "PauseChannel", ...where, until: at, now: NOW })
          .thenError("pause.until_not_future", 400);
        expect(err.issues).toEqual([{ path: "until", message: "until must be a time in the future" }]);
      }
    });

    it("changes when a paused channel's pause ends when paused again, keeping its reason", () => {
      spec([pausedUntil(until)])
        .when({ type: "PauseChannel", ...where, until: later, now: NOW })
        .then([pausedUntil(later)]);
      spec([pausedUntil(until)])
        .when({ type: "PauseChannel", ...where, until, now: NOW })
        .thenNothing();
      // Paused again without an until, it stays paused until someone resumes it.
      spec([pausedUntil(until)])
        .when({ type: "PauseChannel", ...where })
        .then([paused]);
    });

    it("resumes by itself at its until, once, saying so", () => {
      spec([pausedUntil(until)])
        .when(expire(until))
        .then([{ type: "ChannelResumed", data: { ...where, until } }]);
      spec([pausedUntil(until), { type: "ChannelResumed", data: { ...where, until } }])
        .when(expire(until))
        .thenNothing();
    });

    it("resumes only the pause it was scheduled for, and not before its until", () => {
      // Resumed by hand since, or paused again with another until, or for good: the old wake-up changes nothing.
      spec([pausedUntil(until), { type: "ChannelResumed", data: where }])
        .when(expire(until))
        .thenNothing();
      spec([pausedUntil(until), pausedUntil(later)])
        .when(expire(until, later))
        .thenNothing();
      spec([pausedUntil(until), paused])
        .when(expire(until))
        .thenNothing();
      spec([pausedUntil(until)])
        .when(expire(until, "2026-11-23T11:59:59.000Z"))
        .thenNothing();
    });
  });
});
