import type { Application, Runtime, Service } from "./config/schema.js";
import type { ChannelCommand, ChannelState } from "./deciders/channel.js";
import type { ReleaseState } from "./deciders/release.js";
import { conflict, notFound } from "./errors.js";
import { planInstructions } from "./instructions.js";
import type { PinnedConfig } from "./pinned.js";

/**
 * A rollback of one service in one channel to a release that ran there before, planned as the
 * channel command that carries it out. It renders from the release's own parameters and pinned
 * config, and skips the channel's gates: a rollback is how operators get back to a known state,
 * not a promotion.
 */

export type RollbackInput = {
  /** The application and service as they are now, and the runtimes. */
  application: Application;
  channel: string;
  service: Service;
  runtimes: ReadonlyMap<string, Runtime>;
  /**
   * The config the release to roll back to pinned (see core/pinned.ts): a rollback renders that
   * release as it was, not its params with today's config. Without it, the current config.
   */
  pinned?: PinnedConfig;
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
  if (release.bad)
    throw conflict(
      "rollback.bad_release",
      `release ${release.releaseId} was marked bad (${release.bad.reason}); roll back to a release that is not`,
    );
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

  const pinned: PinnedConfig = input.pinned ?? { ok: true, application, service, runtimes: input.runtimes };
  if (!pinned.ok) throw conflict("rollback.config_missing", `cannot roll back: ${pinned.problem}`);
  const instructions = planInstructions({
    application,
    pinnedApplication: pinned.application,
    channel,
    service: pinned.service,
    runtimes: pinned.runtimes,
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
