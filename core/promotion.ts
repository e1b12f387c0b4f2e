import type { Application, Runtime, Service } from "./config/schema.js";
import type { ChannelState, PlannedInstruction } from "./deciders/channel.js";
import type { ReleaseState } from "./deciders/release.js";
import { DomainError } from "./errors.js";
import { approvalsToRequest, soakOf } from "./gates/registry.js";
import { planInstructions } from "./instructions.js";
import { evaluateChannelGates, nextEvaluation, type GateEvaluation } from "./preconditions.js";

/**
 * What should happen next for one release in one channel, decided from everything known now: the
 * gates and their results, approvals to request, and — once every gate passes — the instructions to
 * dispatch. Pure; the reactor carries the plan out as commands, each idempotent, so running the
 * same plan twice has the effect of once.
 */

export type PromotionInput = {
  now: string;
  application: Application;
  service: Service;
  runtimes: ReadonlyMap<string, Runtime>;
  release: ReleaseState;
  channel: string;
  /** The state of the target channel and of every channel of the application, by name. */
  channels: Readonly<Record<string, ChannelState | undefined>>;
};

export type PromotionPlan =
  | { action: "none"; reason: string }
  | { action: "supersede"; supersededBy: string }
  | {
      action: "wait" | "deploy";
      gates: GateEvaluation[];
      requestApprovals: { approval: string; minApprovers: number }[];
      /** When a time-bound gate can next change; the scheduler re-evaluates then. */
      wakeAt?: string;
      paused?: string;
      /** Why the instructions cannot be rendered (a config problem): the release waits until the config is fixed. */
      renderProblem?: string;
      instructions?: PlannedInstruction[];
    };

/**
 * With `protectSoak`, a newer release waits while the release converged in this channel is still
 * soaking for a later channel that has not taken it yet.
 */
function soakProtection(input: PromotionInput, enabled: boolean): GateEvaluation[] {
  if (!enabled || input.release.status === "none") return [];
  const { channel, release } = input;
  const current = input.channels[channel]?.services[release.service];
  if (!current?.converged || !current.convergedAt || current.converged === release.releaseId) return [];
  const now = Date.parse(input.now);
  const soaks = input.application.releaseChannels.flatMap((downstream) =>
    downstream.preconditions.flatMap((p) => {
      const soak = soakOf(p);
      if (soak?.channel !== channel) return [];
      if (input.channels[downstream.name]?.services[release.service]?.desired?.releaseId === current.converged)
        return [];
      const ends = Date.parse(current.convergedAt!) + soak.seconds * 1000;
      return ends > now ? [{ downstream: downstream.name, ends }] : [];
    }),
  );
  if (soaks.length === 0) return [];
  const last = soaks.reduce((a, b) => (b.ends > a.ends ? b : a));
  const until = new Date(last.ends).toISOString();
  return [
    {
      key: "protectSoak",
      result: {
        state: "blocked",
        reason: `release ${current.converged} is soaking in release channel "${channel}" for "${last.downstream}" until ${until}; protectSoak holds newer releases back`,
        until,
      },
    },
  ];
}

export function planPromotion(input: PromotionInput): PromotionPlan {
  const { release, channel } = input;
  if (release.status === "none") return { action: "none", reason: "the release does not exist" };
  if (release.status === "abandoned") return { action: "none", reason: "the release was abandoned" };
  const gates = release.gates[channel];
  if (!gates?.started) return { action: "none", reason: `the release has not entered release channel "${channel}"` };
  if (gates.supersededBy) return { action: "none", reason: `superseded by ${gates.supersededBy}` };
  const config = input.application.releaseChannels.find((c) => c.name === channel);
  if (!config) return { action: "none", reason: `release channel "${channel}" is no longer configured` };

  const target = input.channels[channel];
  const desired = target?.services[release.service]?.desired;
  if (desired?.releaseId === release.releaseId) return { action: "none", reason: "already dispatched" };
  // Release ids sort by creation time: a newer release already in the channel displaces this one.
  if (desired && !desired.rollback && desired.releaseId > release.releaseId)
    return { action: "supersede", supersededBy: desired.releaseId };

  const upstream = Object.fromEntries(
    Object.entries(input.channels).map(([name, state]) => {
      const svc = state?.services[release.service];
      const failed = svc?.desired?.instructionIds
        .map((id) => state?.instructions[id])
        .find((i) => i?.status === "failed");
      return [
        name,
        svc
          ? {
              ...(svc.converged ? { releaseId: svc.converged } : {}),
              ...(svc.convergedAt ? { healthySince: svc.convergedAt } : {}),
              ...(failed
                ? {
                    failed: {
                      releaseId: failed.releaseId,
                      message: `${failed.runtime}: ${failed.message ?? "the apply failed"}`,
                    },
                  }
                : {}),
            }
          : undefined,
      ];
    }),
  );
  const evaluated = [
    ...soakProtection(input, config.protectSoak === true),
    ...evaluateChannelGates(config, {
      now: input.now,
      releaseId: release.releaseId,
      upstream,
      approvals: gates.approvals,
    }),
  ];
  const requestApprovals = config.preconditions.flatMap(approvalsToRequest).filter((a) => !gates.approvals[a.approval]);
  const wakeAt = nextEvaluation(evaluated);
  const paused = target?.paused
    ? `release channel "${channel}" is paused${target.paused.reason ? `: ${target.paused.reason}` : ""}`
    : undefined;
  const base = { gates: evaluated, requestApprovals, ...(wakeAt ? { wakeAt } : {}), ...(paused ? { paused } : {}) };
  if (paused || evaluated.some((g) => g.result.state !== "satisfied")) return { action: "wait", ...base };

  try {
    const instructions = planInstructions({
      application: input.application,
      channel,
      service: input.service,
      runtimes: input.runtimes,
      releaseId: release.releaseId,
      params: release.params,
      channelState: target,
    });
    return { action: "deploy", ...base, instructions };
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return {
      action: "wait",
      ...base,
      renderProblem: [err.message, ...err.issues.map((i) => `${i.path}: ${i.message}`)].join("; "),
    };
  }
}
