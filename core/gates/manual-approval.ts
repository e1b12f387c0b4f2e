import * as z from "zod";
import { Name } from "../config/fields.js";
import { gateKind, type GateIssue, type PreconditionOf } from "./gate.js";

/** `manualApproval`: enough distinct people approve the release for the channel, and nobody rejects it. */

/** The name of a channel's approval when it has only one and does not name it. */
export const DEFAULT_APPROVAL = "approval";

/**
 * What the release has recorded about one approval in one channel. `requested` once the release
 * reached the gate and asked for it (which fixes `minApprovers`); decisions made before that are
 * pre-approvals, and count once it does.
 */
export type Approval = {
  requested: boolean;
  minApprovers?: number;
  grantedBy: string[];
  rejected?: { approver: string; comment?: string };
};

/** Whether an approval was asked for: the release reached the gate. */
export const approvalRequested = (a: Approval | undefined): boolean => a?.requested === true;

/** Whether an approval, as recorded, has enough distinct approvers and no rejection. */
export function approvalState(a: Approval | undefined): "approved" | "rejected" | "pending" {
  if (!a) return "pending";
  return approvalProgress({ minApprovers: a.minApprovers ?? 1, approvers: [], allowSelfApproval: false }, a).state;
}

/**
 * Who may decide an approval: an API key's name, or a Slack user as `slack:<user id>`. Slack's ids
 * are upper-case letters and digits; anything else after `slack:` could never match a click.
 */
export const Approver = z
  .string()
  .min(1)
  .max(128)
  .refine((s) => !s.startsWith("slack:") || /^slack:[A-Z0-9]{2,}$/.test(s), {
    error: "must be an API key name or a Slack identity such as slack:U123ABC",
  });

const body = z.strictObject({
  name: Name.optional(),
  minApprovers: z.number().int().min(1).max(10).default(1),
  /** Who may approve or reject; empty or absent: anyone holding the `approve` scope, and any Slack user. */
  approvers: z.array(Approver).max(100).optional(),
  /** Whether the release's author may approve it; by default not. */
  allowSelfApproval: z.boolean().optional(),
});
export type ManualApproval = PreconditionOf<"manualApproval", typeof body>;

/** Who may decide one approval, as the channel's config says now. */
export type ApprovalPolicy = { minApprovers: number; approvers: readonly string[]; allowSelfApproval: boolean };

export const approvalPolicy = (p: ManualApproval): ApprovalPolicy => ({
  minApprovers: p.minApprovers,
  approvers: p.approvers ?? [],
  allowSelfApproval: p.allowSelfApproval ?? false,
});

export type ApprovalProgress = {
  state: "approved" | "rejected" | "pending";
  /** The approvers that count: with a list of approvers, only those still on it. */
  counted: string[];
  /** How many it needs: the count it was requested with, or — for a pre-approval — the gate's. */
  needed: number;
};

/** How far an approval is, under the gate's current policy. */
export function approvalProgress(p: ApprovalPolicy, a: Approval | undefined): ApprovalProgress {
  const needed = a?.requested && a.minApprovers !== undefined ? a.minApprovers : p.minApprovers;
  const granted = a?.grantedBy ?? [];
  const counted = p.approvers.length ? granted.filter((who) => p.approvers.includes(who)) : granted;
  const state = a?.rejected ? "rejected" : counted.length >= needed ? "approved" : "pending";
  return { state, counted, needed };
}

/** The approval's name: what decisions name it by. */
export const approvalName = (p: ManualApproval): string => p.name ?? DEFAULT_APPROVAL;
const nameOf = approvalName;
const approvers = (n: number) => `${n} approver${n === 1 ? "" : "s"}`;

export const manualApproval = gateKind({
  kind: "manualApproval",
  body,
  key: (p) => `manualApproval:${nameOf(p)}`,
  explain: (p) => `approval "${nameOf(p)}" by ${approvers(p.minApprovers)}`,

  // An admin may stand in for the approvers of one release (an incident fix at night), on the record.
  overridable: true,

  evaluate(p, ctx) {
    const name = nameOf(p);
    const approval = ctx.approvals[name];
    if (approval?.rejected) {
      const { approver, comment } = approval.rejected;
      return {
        state: "blocked",
        reason: `approval "${name}" was rejected by ${approver}${comment ? `: ${comment}` : ""}`,
      };
    }
    const { state, counted, needed } = approvalProgress(approvalPolicy(p), approval);
    if (state === "approved") return { state: "satisfied" };
    return {
      state: "blocked",
      reason: `waiting for approval "${name}": ${counted.length} of ${approvers(needed)}${counted.length ? ` (${counted.join(", ")})` : ""}`,
    };
  },

  // Approvals are decided by name: two approvals in one channel must be told apart.
  validate(gates) {
    const seen = new Set<string>();
    return gates.flatMap(({ precondition, index }, i): GateIssue[] => {
      const issues: GateIssue[] = [];
      if (i > 0 && precondition.name === undefined)
        issues.push({
          index,
          field: "name",
          message: "a channel with several manual approvals must name each of them",
        });
      const name = nameOf(precondition);
      if (seen.has(name)) issues.push({ index, message: `manual approval "${name}" is defined more than once` });
      seen.add(name);
      return issues;
    });
  },

  approvals: (p) => [{ approval: nameOf(p), minApprovers: p.minApprovers }],
});
