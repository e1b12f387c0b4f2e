import type { Application, Runtime, Service } from "./config/schema.js";
import { heldBack, type ChannelState, type PlannedInstruction } from "./deciders/channel.js";
import type { ChannelGates, ReleaseState } from "./deciders/release.js";
import { DomainError } from "./errors.js";
import { approvalsToRequest, soakOf } from "./gates/registry.js";
import { planInstructions } from "./instructions.js";
import type { PinnedConfig } from "./pinned.js";
import { evaluateGates, nextEvaluation, withOverrides, type GateEvaluation } from "./preconditions.js";

/**
 * What should happen next for one release in one channel, decided from everything known now: the
 * gates and their results, approvals to request, and — once every gate passes — the instructions to
 * dispatch. Pure; the reactor carries the plan out as commands, each idempotent, so running the
 * same plan twice has the effect of once.
 */

export type PromotionInput = {
  now: string;
  /** The application as it is now: its gates decide, and its channels' runtimes are deployed to. */
  application: Application;
  service: Service;
  runtimes: ReadonlyMap<string, Runtime>;
  /**
   * The config the release pinned, which its instructions are rendered from (see core/pinned.ts),
   * or why it cannot be found; without it, the current `application`, `service` and `runtimes`.
   */
  pinned?: PinnedConfig;
  release: ReleaseState;
  channel: string;
  /** The state of the target channel and of every channel of the application, by name. */
  channels: Readonly<Record<string, ChannelState | undefined>>;
  /** Channels asked to decide on a soaking release (a plan's `settle`), each with why it did not take it, if it did not. */
  settled?: Readonly<Record<string, string>>;
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
      /** Releases to decide on in other channels first; then plan again with `settled` (see soakProtection). */
      settle?: SettleRequest[];
      /** The rollback hold an explicit promotion lifted: the dispatch names it. */
      explicitHold?: number;
      /** For a config release, the release whose params it carries: the dispatch names it for the channel's hold. */
      basedOn?: string;
    };

/**
 * With `protectSoak`, a newer release waits while the release converged in this channel is soaking
 * for a later channel that has not taken it yet — and past the soak's end, until that channel has
 * decided on it. Deciding both at the soak's end from two racing evaluations let the newer release
 * displace the soaking one before the later channel took it; so at the end, this plan asks for the
 * later channel to be settled first (`settle`), and is made again once it is (`input.settled`).
 */
function soakProtection(input: PromotionInput, enabled: boolean): GateEvaluation[] | { settle: SettleRequest[] } {
  if (input.release.status === "none") return [];
  const { channel, release } = input;
  const recorded = release.gates[channel]?.preconditions.protectSoak;
  const current = input.channels[channel]?.services[release.service];
  const soaking = current?.converged;
  const cleared = (note?: string): GateEvaluation[] =>
    recorded || note ? [{ key: "protectSoak", result: { state: "satisfied", ...(note ? { note } : {}) } }] : [];
  if (!enabled || !soaking || !current.convergedAt || soaking === release.releaseId) return cleared();
  const now = Date.parse(input.now);
  const holds: { downstream: string; ends: number }[] = [];
  const settle: SettleRequest[] = [];
  const released: string[] = [];
  for (const downstream of input.application.releaseChannels) {
    for (const p of downstream.preconditions) {
      const soak = soakOf(p);
      if (soak?.channel !== channel) continue;
      const there = input.channels[downstream.name]?.services[release.service];
      if (there?.desired?.releaseId === soaking || there?.history.includes(soaking)) continue;
      const ends = Date.parse(current.convergedAt) + soak.seconds * 1000;
      const refused = input.settled?.[downstream.name];
      if (ends > now) holds.push({ downstream: downstream.name, ends });
      else if (refused === undefined) settle.push({ releaseId: soaking, channel: downstream.name });
      else released.push(`"${downstream.name}" did not take ${soaking} (${refused})`);
    }
  }
  if (holds.length) {
    const last = holds.reduce((a, b) => (b.ends > a.ends ? b : a));
    const until = new Date(last.ends).toISOString();
    const reason = `release ${soaking} is soaking in release channel "${channel}" for "${last.downstream}" until ${until}; protectSoak holds newer releases back`;
    return [{ key: "protectSoak", result: { state: "blocked", reason, until } }];
  }
  if (settle.length) return { settle };
  return cleared(released.length ? `protectSoak released the hold: ${released.join("; ")}` : undefined);
}

/** A release whose fate in a channel must be decided before this plan can be made. */
export type SettleRequest = { releaseId: string; channel: string };

/** A gate that no longer applies, recorded as satisfied so the release's view does not keep a stale block. */
function lifted(gates: ChannelGates, key: string): GateEvaluation[] {
  return gates.preconditions[key]?.state === "blocked" ? [{ key, result: { state: "satisfied" } }] : [];
}

export function planPromotion(input: PromotionInput): PromotionPlan {
  const { release, channel } = input;
  if (release.status === "none") return { action: "none", reason: "the release does not exist" };
  if (release.status === "abandoned") return { action: "none", reason: "the release was abandoned" };
  if (release.bad) return { action: "none", reason: `the release was marked bad: ${release.bad.reason}` };
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
  // A rollback stays: nothing automatic takes the rolled-back release, an older one, or a config
  // release carrying their params back there.
  const explicitHold = gates.explicitPromotion?.hold;
  const hold = heldBack(target?.services[release.service], release, explicitHold);
  if (hold) {
    const carrying = release.basedOn ? ` (carrying the params of ${release.basedOn})` : "";
    const reason = `release channel "${channel}" was rolled back from ${hold.through}; release ${release.releaseId}${carrying} goes there again only when promoted explicitly (POST /v1/releases/${release.releaseId}/channels/${channel}/promote)`;
    return { action: "wait", gates: [{ key: "rollback", result: { state: "blocked", reason } }], requestApprovals: [] };
  }
  const protection = soakProtection(input, config.protectSoak === true);
  if (!Array.isArray(protection)) {
    const reason = `the soak of the release in release channel "${channel}" is over; waiting for ${protection.settle.map((s) => `"${s.channel}"`).join(", ")} to decide on ${protection.settle[0]!.releaseId} first`;
    return {
      action: "wait",
      gates: [{ key: "protectSoak", result: { state: "blocked", reason } }],
      requestApprovals: [],
      settle: protection.settle,
    };
  }

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
  const evaluated = withOverrides(
    [
      ...lifted(gates, "rollback"),
      ...protection,
      ...evaluateGates(input.application, config, {
        now: input.now,
        releaseId: release.releaseId,
        upstream,
        approvals: gates.approvals,
      }),
    ],
    gates.overrides,
  );
  // Pre-approvals exist before their request: ask for every approval not requested yet.
  const requestApprovals = config.preconditions
    .flatMap(approvalsToRequest)
    .filter((a) => !gates.approvals[a.approval]?.requested);
  const wakeAt = nextEvaluation(evaluated);
  const paused = target?.paused
    ? `release channel "${channel}" is paused${target.paused.until ? ` until ${target.paused.until}` : ""}${target.paused.reason ? `: ${target.paused.reason}` : ""}`
    : undefined;
  const base = { gates: evaluated, requestApprovals, ...(wakeAt ? { wakeAt } : {}), ...(paused ? { paused } : {}) };
  if (paused || evaluated.some((g) => g.result.state !== "satisfied")) return { action: "wait", ...base };

  const pinned: PinnedConfig = input.pinned ?? {
    ok: true,
    application: input.application,
    service: input.service,
    runtimes: input.runtimes,
  };
  if (!pinned.ok) return { action: "wait", ...base, renderProblem: pinned.problem };
  try {
    const instructions = planInstructions({
      application: input.application,
      pinnedApplication: pinned.application,
      channel,
      service: pinned.service,
      runtimes: pinned.runtimes,
      releaseId: release.releaseId,
      params: release.params,
      channelState: target,
    });
    return {
      action: "deploy",
      ...base,
      instructions,
      ...(explicitHold !== undefined ? { explicitHold } : {}),
      ...(release.basedOn ? { basedOn: release.basedOn } : {}),
    };
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return {
      action: "wait",
      ...base,
      renderProblem: [err.message, ...err.issues.map((i) => `${i.path}: ${i.message}`)].join("; "),
    };
  }
}
