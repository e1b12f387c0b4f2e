import type { DomainEvent, EventOf, ParamValue, ReleaseSource } from "../../events/index.js";
import { paramTypeProblem, type Application, type Parameter, type Service } from "../config/schema.js";
import { event, type Decider } from "../decider.js";
import { conflict, invalid, notFound, type Issue } from "../errors.js";
import type { GateResult } from "../gates/gate.js";
import type { Approval } from "../gates/manual-approval.js";

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
};

export type ReleaseState =
  | { status: "none" }
  | {
      status: "active" | "abandoned";
      releaseId: string;
      application: string;
      service: string;
      params: Record<string, ParamValue>;
      source: ReleaseSource;
      channels: string[];
      gates: Record<string, ChannelGates>;
      abandonReason?: string;
    };
type Existing = Exclude<ReleaseState, { status: "none" }>;

export type ReleaseCommand =
  | {
      type: "CreateRelease";
      releaseId: string;
      application: { spec: Application; version: number };
      service: { spec: Service; version: number };
      params: Record<string, unknown>;
      source?: ReleaseSource;
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
    }
  | { type: "SupersedeRelease"; channel: string; supersededBy: string }
  | { type: "AbandonRelease"; reason?: string };

type ReleaseEvent =
  | EventOf<"ReleaseCreated">
  | EventOf<"PromotionStarted">
  | EventOf<"PreconditionSatisfied">
  | EventOf<"PreconditionBlocked">
  | EventOf<"ApprovalRequested">
  | EventOf<"ApprovalGranted">
  | EventOf<"ApprovalRejected">
  | EventOf<"ReleaseSuperseded">
  | EventOf<"ReleaseAbandoned">;

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
  return s.gates[channel] ?? { started: false, preconditions: {}, approvals: {} };
}

function started(s: Existing, channel: string): ChannelGates {
  const gates = gatesOf(s, channel);
  if (!gates.started)
    throw conflict("release.not_in_channel", `release ${s.releaseId} has not entered release channel "${channel}"`);
  return gates;
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
        channels,
        configVersions: { application: application.version, service: service.version },
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
    const current = gates.preconditions[command.precondition];
    if (current && sameResult(current, command.result)) return [];
    const base = { releaseId: s.releaseId, channel: command.channel, precondition: command.precondition };
    return command.result.state === "satisfied"
      ? [event("PreconditionSatisfied", base)]
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

  const s = active(state);
  switch (command.type) {
    case "StartPromotion": {
      if (gatesOf(s, command.channel).started) return [];
      return [event("PromotionStarted", { releaseId: s.releaseId, channel: command.channel })];
    }
    case "RequestApproval": {
      if (started(s, command.channel).approvals[command.approval]) return [];
      return [
        event("ApprovalRequested", {
          releaseId: s.releaseId,
          channel: command.channel,
          approval: command.approval,
          minApprovers: command.minApprovers,
        }),
      ];
    }
    case "DecideApproval": {
      const approval = started(s, command.channel).approvals[command.approval];
      if (!approval)
        throw conflict(
          "approval.not_requested",
          `no approval "${command.approval}" has been requested for release ${s.releaseId} in release channel "${command.channel}"`,
        );
      if (approval.rejected) {
        if (command.decision === "reject") return [];
        throw conflict(
          "approval.rejected",
          `approval "${command.approval}" was already rejected by ${approval.rejected.approver}`,
        );
      }
      const base = {
        releaseId: s.releaseId,
        channel: command.channel,
        approval: command.approval,
        approver: command.approver,
      };
      if (command.decision === "reject")
        return [event("ApprovalRejected", { ...base, ...(command.comment ? { comment: command.comment } : {}) })];
      if (approval.grantedBy.includes(command.approver)) return [];
      return [event("ApprovalGranted", base)];
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

function sameResult(a: GateResult, b: GateResult): boolean {
  if (a.state === "satisfied" || b.state === "satisfied") return a.state === b.state;
  return a.reason === b.reason && a.until === b.until;
}

function evolve(state: ReleaseState, e: DomainEvent): ReleaseState {
  if (e.type === "ReleaseCreated") {
    const { releaseId, application, service, params, source, channels } = e.data;
    return { status: "active", releaseId, application, service, params, source, channels, gates: {} };
  }
  if (state.status === "none") return state;
  const update = (channel: string, f: (g: ChannelGates) => ChannelGates): ReleaseState => ({
    ...state,
    gates: {
      ...state.gates,
      [channel]: f(state.gates[channel] ?? { started: false, preconditions: {}, approvals: {} }),
    },
  });
  const approval = (g: ChannelGates, name: string, f: (a: Approval) => Approval): ChannelGates => {
    const a = g.approvals[name];
    return a ? { ...g, approvals: { ...g.approvals, [name]: f(a) } } : g;
  };
  switch (e.type) {
    case "PromotionStarted":
      return update(e.data.channel, (g) => ({ ...g, started: true }));
    case "PreconditionSatisfied":
      return update(e.data.channel, (g) => ({
        ...g,
        preconditions: { ...g.preconditions, [e.data.precondition]: { state: "satisfied" } },
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
      return update(e.data.channel, (g) => ({
        ...g,
        approvals: { ...g.approvals, [e.data.approval]: { minApprovers: e.data.minApprovers, grantedBy: [] } },
      }));
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
    case "ReleaseSuperseded":
      return update(e.data.channel, (g) => ({ ...g, supersededBy: e.data.supersededBy }));
    case "ReleaseAbandoned":
      return { ...state, status: "abandoned", ...(e.data.reason ? { abandonReason: e.data.reason } : {}) };
    default:
      return state;
  }
}

export const releaseDecider: Decider<ReleaseCommand, ReleaseState, ReleaseEvent> = {
  initialState: () => ({ status: "none" }),
  evolve,
  decide,
};
