import type { DomainEvent, EventData, EventOf, ParamValue, ReleaseSource } from "../../events/index.js";
import { paramTypeProblem, type Application, type Parameter, type Service } from "../config/schema.js";
import { channelTargets } from "../config/validate.js";
import { event, type Decider } from "../decider.js";
import type { ReleaseInChannel } from "../approval-policy.js";
import { conflict, DomainError, forbidden, invalid, notFound, type Issue } from "../errors.js";
import type { GateResult } from "../gates/gate.js";
import { isOverridable, overridableKinds } from "../gates/registry.js";
import type { Approval, ApprovalPolicy } from "../gates/manual-approval.js";

/**
 * A release (stream `release#<id>`): one set of parameter values for one service, promoted through
 * the application's channels. This boundary owns the gates: which channels the release has entered,
 * what each precondition last evaluated to, and who approved or rejected it.
 */

export type ChannelGates = {
  started: boolean;
  preconditions: Record<string, GateResult>;
  approvals: Record<string, Approval>;
  supersededBy?: string;
  /** An operator asked for the release here although the channel holds it back after a rollback. */
  explicitPromotion?: { reason: string; hold: number };
  /** Gates an admin overrode for the release here, by gate key: they pass from then on. */
  overrides?: Record<string, GateOverride>;
};

/** Who overrode a blocked gate for one release in one channel, and why. */
export type GateOverride = { by: string; reason: string };

export type ReleaseState =
  | { status: "none" }
  | {
      status: "active" | "abandoned";
      releaseId: string;
      application: string;
      service: string;
      params: Record<string, ParamValue>;
      source: ReleaseSource;
      /** Who made the change, as CI said: approvals by this identity are refused unless the gate allows them. */
      author?: string;
      channels: string[];
      /** The config versions it renders from (see ReleaseCreated). */
      configVersions: ConfigVersions;
      /** A CI build, or a config change carrying the params of `basedOn`. */
      cause: ReleaseCause;
      basedOn?: string;
      gates: Record<string, ChannelGates>;
      abandonReason?: string;
      /** Marked bad: never promoted again, whatever its gates say. */
      bad?: { reason: string };
    };
type Existing = Exclude<ReleaseState, { status: "none" }>;
export type ConfigVersions = EventData<"ReleaseCreated">["configVersions"];
export type ReleaseCause = "ci" | "config";

export type ReleaseCommand =
  | {
      type: "CreateRelease";
      releaseId: string;
      application: { spec: Application; version: number };
      service: { spec: Service; version: number };
      params: Record<string, unknown>;
      source?: ReleaseSource;
      author?: string;
      /** The version of every runtime now: the release pins those of the extensions it deploys to. */
      runtimeVersions?: Readonly<Record<string, number>>;
      /** A config release: the release whose params it carries with the config as it is now. */
      config?: { basedOn: string };
    }
  | { type: "StartPromotion"; channel: string }
  | { type: "RecordPreconditionResult"; channel: string; precondition: string; result: GateResult }
  | { type: "RequestApproval"; channel: string; approval: string; minApprovers: number }
  | {
      type: "DecideApproval";
      channel: string;
      approval: string;
      approver: string;
      decision: "approve" | "reject";
      comment?: string;
      /** The channel's manual approval of that name in the current config, if it has one: who may decide it. */
      policy?: ApprovalPolicy;
      /** What the channel's stream says of this release, read by the caller. */
      inChannel: ReleaseInChannel;
    }
  | { type: "SupersedeRelease"; channel: string; supersededBy: string }
  | { type: "AbandonRelease"; reason?: string }
  /** `by`: the admin who overrides the gate recorded under `gate`. */
  | { type: "OverrideGate"; channel: string; gate: string; reason: string; by: string }
  | { type: "MarkReleaseBad"; reason: string }
  /** `hold`: the channel's rollback hold on this release's service (its rollback count), read by the caller. */
  | { type: "RequestExplicitPromotion"; channel: string; reason: string; hold: number };

type ReleaseEvent =
  | EventOf<"ReleaseCreated">
  | EventOf<"PromotionStarted">
  | EventOf<"PreconditionSatisfied">
  | EventOf<"PreconditionBlocked">
  | EventOf<"ApprovalRequested">
  | EventOf<"ApprovalGranted">
  | EventOf<"ApprovalRejected">
  | EventOf<"ReleaseSuperseded">
  | EventOf<"ReleaseAbandoned">
  | EventOf<"GateOverridden">
  | EventOf<"ReleaseMarkedBad">
  | EventOf<"ExplicitPromotionRequested">;

/**
 * The config versions a new release pins: its service's, its application's, and those of the
 * extension runtimes it deploys to in any channel (their apply and parameters are rendered; a
 * Kubernetes runtime renders nothing but its name, so nothing of it is pinned).
 */
function pinnedVersions(command: Extract<ReleaseCommand, { type: "CreateRelease" }>): ConfigVersions {
  const { application, service, runtimeVersions = {} } = command;
  const extensions = application.spec.releaseChannels
    .flatMap((c) => channelTargets(c.runtimes, service.spec))
    .filter((t) => t.type === "extension" && runtimeVersions[t.runtime] !== undefined)
    .map((t) => [t.runtime, runtimeVersions[t.runtime]!] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    application: application.version,
    service: service.version,
    ...(extensions.length ? { runtimes: Object.fromEntries(extensions) } : {}),
  };
}

/**
 * Checks CI's parameter values against the service's declared parameters and fills in defaults.
 * Every problem is reported, each naming `params.<name>`.
 */
export function resolveParams(
  declared: readonly Parameter[],
  given: Record<string, unknown>,
): { ok: true; params: Record<string, ParamValue> } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const params: Record<string, ParamValue> = {};
  for (const name of Object.keys(given)) {
    if (!declared.some((p) => p.name === name))
      issues.push({ path: `params.${name}`, message: `params.${name} is not a parameter of this service` });
  }
  for (const p of declared) {
    const value = Object.hasOwn(given, p.name) ? given[p.name] : undefined;
    if (value === undefined) {
      if (p.default !== undefined) params[p.name] = p.default;
      else if (p.required) issues.push({ path: `params.${p.name}`, message: `params.${p.name} is required` });
      continue;
    }
    const problem = paramTypeProblem(p.type, value);
    if (problem) issues.push({ path: `params.${p.name}`, message: `params.${p.name} ${problem}` });
    else params[p.name] = value as ParamValue;
  }
  return issues.length ? { ok: false, issues } : { ok: true, params };
}

function existing(state: ReleaseState): Existing {
  if (state.status === "none") throw notFound("release.not_found", "the release does not exist");
  return state;
}

function active(state: ReleaseState): Existing {
  const s = existing(state);
  if (s.status === "abandoned")
    throw conflict("release.abandoned", `release ${s.releaseId} was abandoned and cannot change`);
  return s;
}

function gatesOf(s: Existing, channel: string): ChannelGates {
  if (!s.channels.includes(channel))
    throw notFound(
      "release.unknown_channel",
      `release channel "${channel}" is not part of application "${s.application}"`,
    );
  return own(s.gates, channel) ?? { started: false, preconditions: {}, approvals: {} };
}

/** A record's own entry: names come from users, and a plain object answers `constructor` by itself. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function started(s: Existing, channel: string): ChannelGates {
  const gates = gatesOf(s, channel);
  if (!gates.started)
    throw conflict("release.not_in_channel", `release ${s.releaseId} has not entered release channel "${channel}"`);
  return gates;
}

/**
 * An approval or rejection. It counts only while the release can still go to the channel: before it
 * got there (a pre-approval, counted once it reaches the gate) or while it waits there. Only the
 * gate's approvers may decide, and the release's author may not approve it unless the gate allows.
 */
function decideApproval(command: Extract<ReleaseCommand, { type: "DecideApproval" }>, s: Existing): ReleaseEvent[] {
  const { channel, approval: name, approver, policy } = command;
  const gates = gatesOf(s, channel);
  if (!policy)
    throw notFound(
      "approval.unknown",
      `release channel "${channel}" of application "${s.application}" has no manual approval "${name}"`,
    );
  const gone = notPending(s, channel, gates, command.inChannel);
  if (gone)
    throw new DomainError(
      "conflict",
      "approval.not_pending",
      `release ${s.releaseId} is not waiting for approval "${name}" in release channel "${channel}": ${gone.why}`,
      [],
      { releaseState: gone.state },
    );
  if (policy.approvers.length && !policy.approvers.includes(approver))
    throw forbidden(
      "approval.not_an_approver",
      `${approver} is not one of the approvers of approval "${name}" in release channel "${channel}"`,
    );
  if (command.decision === "approve" && !policy.allowSelfApproval && s.author === approver)
    throw forbidden(
      "approval.self_approval",
      `${approver} is the author of release ${s.releaseId} and may not approve it (allowSelfApproval is off)`,
    );
  const approval = own(gates.approvals, name);
  if (approval?.rejected) {
    if (command.decision === "reject") return [];
    throw conflict("approval.rejected", `approval "${name}" was already rejected by ${approval.rejected.approver}`);
  }
  const base = { releaseId: s.releaseId, channel, approval: name, approver };
  const said = command.comment ? { comment: command.comment } : {};
  if (command.decision === "reject") return [event("ApprovalRejected", { ...base, ...said })];
  if (approval?.grantedBy.includes(approver)) return [];
  return [event("ApprovalGranted", { ...base, ...said })];
}

type NotPending = { state: "abandoned" | "bad" | "superseded" | "deployed" | "rolledBack" | "replaced"; why: string };

/** Why the release no longer waits, or will never wait, for decisions in this channel — if it does not. */
function notPending(
  s: Existing,
  channel: string,
  gates: ChannelGates,
  there: ReleaseInChannel,
): NotPending | undefined {
  if (s.status === "abandoned")
    return { state: "abandoned", why: `it was abandoned${s.abandonReason ? ` (${s.abandonReason})` : ""}` };
  if (s.bad) return { state: "bad", why: `it was marked bad (${s.bad.reason})` };
  if (gates.supersededBy) return { state: "superseded", why: `it was superseded there by ${gates.supersededBy}` };
  if (!gates.started) {
    // Superseded where it is now, it never moves on to the channels after it.
    const stuck = s.channels
      .slice(0, s.channels.indexOf(channel))
      .find((c) => s.gates[c]?.started && s.gates[c]?.supersededBy);
    if (stuck)
      return {
        state: "superseded",
        why: `it was superseded by ${s.gates[stuck]!.supersededBy} in release channel "${stuck}" and will not get there`,
      };
  }
  switch (there.state) {
    case "waiting":
      return undefined;
    case "deployed":
      return { state: "deployed", why: "it was deployed there" };
    case "rolledBack":
      return { state: "rolledBack", why: `it was deployed there and rolled back to ${there.to}` };
    case "replaced":
      return { state: "replaced", why: `it was deployed there and has since been replaced by ${there.by}` };
    case "superseded":
      return { state: "superseded", why: `it was superseded there by ${there.by}` };
  }
}

function decide(command: ReleaseCommand, state: ReleaseState): ReleaseEvent[] {
  if (command.type === "CreateRelease") {
    if (state.status !== "none") throw conflict("release.exists", `release ${command.releaseId} already exists`);
    const { application, service } = command;
    if (service.spec.application !== application.spec.name)
      throw invalid(
        "release.wrong_application",
        `service "${service.spec.name}" belongs to application "${service.spec.application}", not "${application.spec.name}"`,
        [
          {
            path: "service",
            message: `service "${service.spec.name}" is not part of application "${application.spec.name}"`,
          },
        ],
      );
    const resolved = resolveParams(service.spec.parameters, command.params);
    if (!resolved.ok)
      throw invalid(
        "release.invalid_params",
        `the release parameters have ${resolved.issues.length} error(s)`,
        resolved.issues,
      );
    const channels = application.spec.releaseChannels.map((c) => c.name);
    // The release enters its first channel in the same append: one stream hop less before it deploys.
    return [
      event("ReleaseCreated", {
        releaseId: command.releaseId,
        application: application.spec.name,
        service: service.spec.name,
        params: resolved.params,
        source: command.source ?? {},
        ...(command.author ? { author: command.author } : {}),
        channels,
        configVersions: pinnedVersions(command),
        ...(command.config ? { cause: "config" as const, basedOn: command.config.basedOn } : {}),
      }),
      ...(channels[0] ? [event("PromotionStarted", { releaseId: command.releaseId, channel: channels[0] })] : []),
    ];
  }

  // Re-evaluations and late callbacks for an abandoned release change nothing and are not errors:
  // they are stale messages, and at-least-once delivery makes them normal.
  if (command.type === "RecordPreconditionResult") {
    const s = existing(state);
    if (s.status === "abandoned") return [];
    const gates = started(s, command.channel);
    const current = own(gates.preconditions, command.precondition);
    if (current && sameResult(current, command.result)) return [];
    const base = { releaseId: s.releaseId, channel: command.channel, precondition: command.precondition };
    return command.result.state === "satisfied"
      ? [event("PreconditionSatisfied", { ...base, ...(command.result.note ? { note: command.result.note } : {}) })]
      : [
          event("PreconditionBlocked", {
            ...base,
            reason: command.result.reason,
            ...(command.result.until ? { until: command.result.until } : {}),
          }),
        ];
  }

  if (command.type === "AbandonRelease") {
    const s = existing(state);
    if (s.status === "abandoned") return [];
    return [
      event("ReleaseAbandoned", { releaseId: s.releaseId, ...(command.reason ? { reason: command.reason } : {}) }),
    ];
  }

  if (command.type === "DecideApproval") return decideApproval(command, existing(state));

  // Entering a channel follows from converging in the one before; for a release abandoned in the
  // meantime it is a stale consequence, not an error (the reactor would retry it forever).
  if (command.type === "StartPromotion" && existing(state).status === "abandoned") {
    gatesOf(existing(state), command.channel);
    return [];
  }

  if (command.type === "MarkReleaseBad") {
    const s = existing(state);
    if (s.bad) return [];
    return [event("ReleaseMarkedBad", { releaseId: s.releaseId, reason: command.reason })];
  }

  const s = active(state);
  switch (command.type) {
    case "RequestExplicitPromotion": {
      if (s.bad)
        throw conflict(
          "release.bad",
          `release ${s.releaseId} was marked bad (${s.bad.reason}) and is never promoted again`,
        );
      const gates = gatesOf(s, command.channel);
      if (gates.supersededBy)
        throw conflict(
          "release.superseded",
          `release ${s.releaseId} was superseded by ${gates.supersededBy} in release channel "${command.channel}"`,
        );
      // Entering the channel and the request are one append: the evaluation that follows sees both.
      return [
        ...(gates.started ? [] : [event("PromotionStarted", { releaseId: s.releaseId, channel: command.channel })]),
        ...(gates.explicitPromotion?.hold === command.hold
          ? []
          : [
              event("ExplicitPromotionRequested", {
                releaseId: s.releaseId,
                channel: command.channel,
                reason: command.reason,
                hold: command.hold,
              }),
            ]),
      ];
    }
    case "OverrideGate":
      return overrideGate(command, s);
    case "StartPromotion": {
      if (gatesOf(s, command.channel).started) return [];
      return [event("PromotionStarted", { releaseId: s.releaseId, channel: command.channel })];
    }
    case "RequestApproval": {
      // Pre-approvals recorded before the release got here keep counting: the request only fixes the count.
      if (own(started(s, command.channel).approvals, command.approval)?.requested) return [];
      return [
        event("ApprovalRequested", {
          releaseId: s.releaseId,
          channel: command.channel,
          approval: command.approval,
          minApprovers: command.minApprovers,
        }),
      ];
    }
    case "SupersedeRelease": {
      if (gatesOf(s, command.channel).supersededBy) return [];
      return [
        event("ReleaseSuperseded", {
          releaseId: s.releaseId,
          channel: command.channel,
          supersededBy: command.supersededBy,
        }),
      ];
    }
  }
}

/**
 * An admin lifts one gate for one release in one channel: a gate of a kind that allows it, that the
 * release's last evaluation there found blocked. The override stays; the gate passes from then on.
 */
function overrideGate(command: Extract<ReleaseCommand, { type: "OverrideGate" }>, s: Existing): ReleaseEvent[] {
  const { channel, gate } = command;
  const gates = gatesOf(s, channel);
  if (!isOverridable(gate))
    throw invalid(
      "override.not_allowed",
      `gate "${gate}" cannot be overridden; only ${overridableKinds().join(" and ")} gates can`,
      [{ path: "gate", message: `gate "${gate}" is not of a kind an override may lift` }],
    );
  if (!gates.started)
    throw conflict("release.not_in_channel", `release ${s.releaseId} has not entered release channel "${channel}"`);
  if (gates.overrides?.[gate]) return [];
  if (gates.preconditions[gate]?.state !== "blocked")
    throw conflict(
      "override.not_blocked",
      `gate "${gate}" is not blocking release ${s.releaseId} in release channel "${channel}"`,
    );
  return [event("GateOverridden", { releaseId: s.releaseId, channel, gate, reason: command.reason, by: command.by })];
}

function sameResult(a: GateResult, b: GateResult): boolean {
  if (a.state === "satisfied" || b.state === "satisfied") return a.state === b.state && noteOf(a) === noteOf(b);
  return a.reason === b.reason && a.until === b.until;
}

function evolve(state: ReleaseState, e: DomainEvent): ReleaseState {
  if (e.type === "ReleaseCreated") {
    const { releaseId, application, service, params, source, author, channels, configVersions } = e.data;
    return {
      status: "active",
      releaseId,
      application,
      service,
      params,
      source,
      ...(author ? { author } : {}),
      channels,
      configVersions,
      cause: e.data.cause ?? "ci",
      ...(e.data.basedOn ? { basedOn: e.data.basedOn } : {}),
      gates: {},
    };
  }
  if (state.status === "none") return state;
  const update = (channel: string, f: (g: ChannelGates) => ChannelGates): ReleaseState => ({
    ...state,
    gates: {
      ...state.gates,
      [channel]: f(own(state.gates, channel) ?? { started: false, preconditions: {}, approvals: {} }),
    },
  });
  // A decision before the request is a pre-approval: the approval exists from then on, not yet requested.
  const approval = (g: ChannelGates, name: string, f: (a: Approval) => Approval): ChannelGates => ({
    ...g,
    approvals: { ...g.approvals, [name]: f(own(g.approvals, name) ?? { requested: false, grantedBy: [] }) },
  });
  switch (e.type) {
    case "PromotionStarted":
      return update(e.data.channel, (g) => ({ ...g, started: true }));
    case "PreconditionSatisfied":
      return update(e.data.channel, (g) => ({
        ...g,
        preconditions: {
          ...g.preconditions,
          [e.data.precondition]: { state: "satisfied", ...(e.data.note ? { note: e.data.note } : {}) },
        },
      }));
    case "PreconditionBlocked": {
      const result: GateResult = {
        state: "blocked",
        reason: e.data.reason,
        ...(e.data.until ? { until: e.data.until } : {}),
      };
      return update(e.data.channel, (g) => ({
        ...g,
        preconditions: { ...g.preconditions, [e.data.precondition]: result },
      }));
    }
    case "ApprovalRequested":
      return update(e.data.channel, (g) =>
        approval(g, e.data.approval, (a) => ({ ...a, requested: true, minApprovers: e.data.minApprovers })),
      );
    case "ApprovalGranted":
      return update(e.data.channel, (g) =>
        approval(g, e.data.approval, (a) => ({ ...a, grantedBy: [...a.grantedBy, e.data.approver] })),
      );
    case "ApprovalRejected":
      return update(e.data.channel, (g) =>
        approval(g, e.data.approval, (a) => ({
          ...a,
          rejected: { approver: e.data.approver, ...(e.data.comment ? { comment: e.data.comment } : {}) },
        })),
      );
    case "GateOverridden":
      return update(e.data.channel, (g) => ({
        ...g,
        overrides: { ...g.overrides, [e.data.gate]: { by: e.data.by, reason: e.data.reason } },
      }));
    case "ReleaseSuperseded":
      return update(e.data.channel, (g) => ({ ...g, supersededBy: e.data.supersededBy }));
    case "ReleaseAbandoned":
      return { ...state, status: "abandoned", ...(e.data.reason ? { abandonReason: e.data.reason } : {}) };
    case "ReleaseMarkedBad":
      return { ...state, bad: { reason: e.data.reason } };
    case "ExplicitPromotionRequested":
      return update(e.data.channel, (g) => ({ ...g, explicitPromotion: { reason: e.data.reason, hold: e.data.hold } }));
    default:
      return state;
  }
}

const noteOf = (r: GateResult) => (r.state === "satisfied" ? r.note : undefined);

export const releaseDecider: Decider<ReleaseCommand, ReleaseState, ReleaseEvent> = {
  initialState: () => ({ status: "none" }),
  evolve,
  decide,
};
