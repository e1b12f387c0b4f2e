import { canonicalJson, getConfig, listConfigs, type ConfigState, type StoredConfig } from "./config/decider.js";
import { channelTargets } from "./config/validate.js";
import { resolveParams, type ReleaseCommand, type ReleaseState } from "./deciders/release.js";
import { DomainError } from "./errors.js";
import { pinnedConfig, runtimeVersions, type PinnedConfig } from "./pinned.js";
import { renderInstructions } from "./render.js";

/**
 * A config change reaches the channels as a release of its own — a *config release*: the newest
 * release's params, rendered from the config as it is now, promoted through the channels under
 * the same gates as any release. So a changed manifest, channel constant or extension is never
 * applied in production without passing production's gates, and what waits at a gate keeps
 * rendering from the config it was created with.
 */

export type CreateReleaseCommand = Extract<ReleaseCommand, { type: "CreateRelease" }>;

export type ConfigReleasePlan =
  { action: "none"; reason: string } | { action: "create"; command: CreateReleaseCommand };

/** The services whose rendering a change of this object may alter. */
export function servicesAffectedBy(
  config: ConfigState,
  kind: "runtime" | "application" | "service",
  name: string,
): StoredConfig<"service">[] {
  const services = listConfigs(config, "service");
  switch (kind) {
    case "service":
      return services.filter((s) => s.name === name);
    case "application":
      return services.filter((s) => s.spec.application === name);
    case "runtime":
      return services.filter((s) =>
        getConfig(config, "application", s.spec.application)?.spec.releaseChannels.some((c) =>
          channelTargets(c.runtimes, s.spec).some((t) => t.runtime === name),
        ),
      );
  }
}

/**
 * Whether the newest release of a service needs a config release, decided by what it would deploy:
 * only a change that alters what some channel renders for it makes one — a changed precondition
 * is a rule, read as it is now anyway, and a changed description deploys nothing.
 */
export function planConfigRelease(input: {
  config: ConfigState;
  /** The newest release of the service, by id. */
  newest: ReleaseState;
  /** The id the config release gets. */
  releaseId: string;
  /** Who changed the config: the config release's author, for approvals that refuse self-approval. */
  author?: string;
}): ConfigReleasePlan {
  const { config, newest } = input;
  if (newest.status === "none") return { action: "none", reason: "the service has no release yet" };
  if (newest.status === "abandoned" || newest.bad)
    return {
      action: "none",
      reason: `its newest release ${newest.releaseId} was ${newest.status === "abandoned" ? "abandoned" : "marked bad"}; the change goes out with the next release`,
    };
  const application = getConfig(config, "application", newest.application);
  const service = getConfig(config, "service", newest.service);
  if (!application || !service || service.spec.application !== application.name)
    return {
      action: "none",
      reason: `service "${newest.service}" is no longer part of application "${newest.application}"`,
    };

  const pinned = pinnedConfig(config, newest);
  const current: PinnedConfig = {
    ok: true,
    application: application.spec,
    service: service.spec,
    runtimes: new Map(listConfigs(config, "runtime").map((r) => [r.name, r.spec])),
  };
  const resolved = resolveParams(service.spec.parameters, newest.params);
  const unchanged =
    pinned.ok &&
    resolved.ok &&
    application.spec.releaseChannels.every(
      (c) =>
        rendering(pinned, application.spec, c.name, newest.releaseId, newest.params) ===
        rendering(current, application.spec, c.name, newest.releaseId, resolved.params),
    );
  if (unchanged)
    return { action: "none", reason: `release ${newest.releaseId} already renders as the config does now` };
  return {
    action: "create",
    command: {
      type: "CreateRelease",
      releaseId: input.releaseId,
      application,
      service,
      params: newest.params,
      source: newest.source,
      ...(input.author ? { author: input.author } : {}),
      runtimeVersions: runtimeVersions(config),
      // The release whose params it carries: a config release of a config release carries the
      // params of the same build, and a rollback hold on that build holds them all.
      config: { basedOn: newest.basedOn ?? newest.releaseId },
    },
  };
}

/** What a channel's runtimes would be sent, or why it cannot be rendered, as one comparable string. */
function rendering(
  pinned: Extract<PinnedConfig, { ok: true }>,
  application: StoredConfig<"application">["spec"],
  channel: string,
  releaseId: string,
  params: Parameters<typeof renderInstructions>[0]["params"],
): string {
  try {
    return canonicalJson(
      renderInstructions({
        application,
        pinnedApplication: pinned.application,
        channel,
        service: pinned.service,
        runtimes: pinned.runtimes,
        releaseId,
        params,
      }),
    );
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return canonicalJson({ problem: err.message, issues: err.issues });
  }
}
