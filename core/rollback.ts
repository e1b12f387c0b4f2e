import type { Application, Runtime, Service } from "./config/schema.js";
import type { ChannelCommand, ChannelState } from "./deciders/channel.js";
import type { ReleaseState } from "./deciders/release.js";
import { conflict, notFound } from "./errors.js";
import { planInstructions } from "./instructions.js";

/**
 * A rollback of one service in one channel to a release that ran there before, planned as the
 * channel command that carries it out. It renders from the release's own parameters and skips
 * the channel's gates: a rollback is how operators get back to a known state, not a promotion.
 */

export type RollbackInput = {
  application: Application;
  channel: string;
  service: Service;
  runtimes: ReadonlyMap<string, Runtime>;
  /** The release to roll back to. */
  release: ReleaseState;
  channelState: ChannelState;
  reason?: string;
};

export type RollbackCommand = Extract<ChannelCommand, { type: "RollbackService" }>;

export function planRollback(input: RollbackInput): RollbackCommand {
  const { application, channel, service, release } = input;
  if (release.status === "none" || release.service !== service.name || release.application !== application.name) {
    const which = release.status === "none" ? "the release" : `release ${release.releaseId}`;
    throw notFound(
      "release.not_found",
      `${which} of service "${service.name}" does not exist in application "${application.name}"`,
    );
  }
  if (!application.releaseChannels.some((c) => c.name === channel))
    throw notFound(
      "channel.not_found",
      `release channel "${channel}" does not exist in application "${application.name}"`,
    );
  // The channel decider refuses this too; refusing before rendering names the real problem
  // instead of, say, a render error for a release that could never be rolled back to anyway.
  if (!input.channelState.services[service.name]?.history.includes(release.releaseId))
    throw conflict(
      "rollback.unknown_release",
      `release ${release.releaseId} never converged for service "${service.name}" in release channel "${channel}", so it cannot be rolled back to`,
    );

  const instructions = planInstructions({
    application,
    channel,
    service,
    runtimes: input.runtimes,
    releaseId: release.releaseId,
    params: release.params,
    channelState: input.channelState,
  });
  return {
    type: "RollbackService",
    application: application.name,
    channel,
    service: service.name,
    toReleaseId: release.releaseId,
    instructions,
    ...(input.reason ? { reason: input.reason } : {}),
  };
}
