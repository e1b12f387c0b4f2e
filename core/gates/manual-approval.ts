import { z } from "zod";
import { Name } from "../config/fields.js";
import { gateKind, type GateIssue, type PreconditionOf } from "./gate.js";

/** `manualApproval`: enough distinct people approve the release for the channel, and nobody rejects it. */

/** The name of a channel's approval when it has only one and does not name it. */
export const DEFAULT_APPROVAL = "approval";

/** What the release has recorded about one approval in one channel. */
export type Approval = {
  minApprovers: number;
  grantedBy: string[];
  rejected?: { approver: string; comment?: string };
};

/** Whether an approval has enough distinct approvers and no rejection. */
export function approvalState(a: Approval | undefined): "approved" | "rejected" | "pending" {
  if (!a) return "pending";
  if (a.rejected) return "rejected";
  return a.grantedBy.length >= a.minApprovers ? "approved" : "pending";
}

const body = z.strictObject({
  name: Name.optional(),
  minApprovers: z.number().int().min(1).max(10).default(1),
});
export type ManualApproval = PreconditionOf<"manualApproval", typeof body>;

const nameOf = (p: ManualApproval) => p.name ?? DEFAULT_APPROVAL;
const approvers = (n: number) => `${n} approver${n === 1 ? "" : "s"}`;

export const manualApproval = gateKind({
  kind: "manualApproval",
  body,
  key: (p) => `manualApproval:${nameOf(p)}`,
  explain: (p) => `approval "${nameOf(p)}" by ${approvers(p.minApprovers)}`,

  evaluate(p, ctx) {
    const name = nameOf(p);
    const approval = ctx.approvals[name];
    const state = approvalState(approval);
    if (state === "approved") return { state: "satisfied" };
    if (state === "rejected" && approval?.rejected) {
      const { approver, comment } = approval.rejected;
      return {
        state: "blocked",
        reason: `approval "${name}" was rejected by ${approver}${comment ? `: ${comment}` : ""}`,
      };
    }
    return {
      state: "blocked",
      reason: `waiting for approval "${name}": ${approval?.grantedBy.length ?? 0} of ${approvers(p.minApprovers)}`,
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
