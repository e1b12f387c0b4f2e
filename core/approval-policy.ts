import type { Application } from "./config/schema.js";
import type { ChannelState } from "./deciders/channel.js";
import { approvalName, approvalPolicy, type ApprovalPolicy, type ManualApproval } from "./gates/manual-approval.js";

export {
  approvalPolicy,
  approvalProgress,
  approvalRequested,
  Approver,
  type ApprovalPolicy,
  type ApprovalProgress,
} from "./gates/manual-approval.js";

/**
 * The facts an approval decision needs from outside the release's stream: the approval's policy in
 * the channel's current config, and what the channel's own stream says of the release. Deciders see
 * one stream, so the service reads these and hands them in with the command.
 */

/** The manual approval of that name in a channel of the application, as configured now, if there is one. */
export function approvalPolicyOf(
  application: Application,
  channel: string,
  approval: string,
): ApprovalPolicy | undefined {
  const gate = application.releaseChannels
    .find((c) => c.name === channel)
    ?.preconditions.find((p): p is ManualApproval => p.kind === "manualApproval" && approvalName(p) === approval);
  return gate ? approvalPolicy(gate) : undefined;
}

/**
 * What a channel did with a release: nothing yet (`waiting`), took it (`deployed`: dispatched,
 * converged or failed there), took it and went back to an older one (`rolledBack`), took it and
 * then a newer one (`replaced`), or holds a newer one it never took this one before (`superseded`,
 * recorded on the release as soon as it is evaluated there).
 */
export type ReleaseInChannel =
  | { state: "waiting" }
  | { state: "deployed" }
  | { state: "rolledBack"; to: string }
  | { state: "replaced"; by: string }
  | { state: "superseded"; by: string };

export function releaseInChannel(
  channel: ChannelState | undefined,
  service: string,
  releaseId: string,
): ReleaseInChannel {
  const svc = channel?.services[service];
  const desired = svc?.desired;
  if (!channel || !svc || !desired) return { state: "waiting" };
  if (desired.releaseId === releaseId) return { state: "deployed" };
  const taken =
    svc.history.includes(releaseId) ||
    Object.values(channel.instructions).some((i) => i.service === service && i.releaseId === releaseId);
  if (taken)
    return desired.rollback
      ? { state: "rolledBack", to: desired.releaseId }
      : { state: "replaced", by: desired.releaseId };
  // Release ids sort by creation time, as in planPromotion: a newer release there displaces this one.
  if (!desired.rollback && desired.releaseId > releaseId) return { state: "superseded", by: desired.releaseId };
  return { state: "waiting" };
}
