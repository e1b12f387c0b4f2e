import type { EventData } from "../../events/index.js";
import { streams } from "../../core/index.js";
import { approvalRequestMessage } from "../adapters/slack.js";
import type { BackendDeps } from "./deps.js";
import { readChannel } from "./promotion.js";

/** Telling people what waits for them: the approval request, posted to Slack when it is configured. */

export async function announceApprovalRequest(
  deps: BackendDeps,
  request: EventData<"ApprovalRequested">,
): Promise<void> {
  if (!deps.slackWebhookUrl || !deps.postToSlack) return;
  const release = await releaseCreated(deps, request.releaseId);
  if (!release) return;
  // What runs in the channel now, to show the approver what would change.
  const running = (await readChannel(deps, release.application, request.channel)).services[release.service]?.converged;
  const current = running ? await releaseCreated(deps, running) : undefined;
  await deps.postToSlack(
    deps.slackWebhookUrl,
    approvalRequestMessage({
      release,
      channel: request.channel,
      approval: request.approval,
      minApprovers: request.minApprovers,
      ...(current ? { current } : {}),
    }),
  );
}

/** The facts a release was created with, as the Slack message shows them. */
async function releaseCreated(deps: BackendDeps, releaseId: string): Promise<EventData<"ReleaseCreated"> | undefined> {
  const history = await deps.store.read(streams.release(releaseId));
  const created = history.find((e) => e.type === "ReleaseCreated");
  return created?.type === "ReleaseCreated" ? created.data : undefined;
}
