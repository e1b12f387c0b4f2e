import type { ParamValue } from "../events/index.js";
import { getConfigVersion, listConfigs, type ConfigKind, type ConfigState } from "./config/decider.js";
import type { Application, Runtime, Service } from "./config/schema.js";
import type { ConfigVersions } from "./deciders/release.js";
import { channelInputs, type ChannelInputs } from "./render.js";

/**
 * What is deployed is pinned; the rules for when it may go are current. A release renders — in
 * every channel, and in every rollback to it — from the config versions it recorded when it was
 * created, while its gates read the application as it is now.
 */

/** The config a release renders from, or why it cannot be found. */
export type PinnedConfig =
  | { ok: true; application: Application; service: Service; runtimes: ReadonlyMap<string, Runtime> }
  | { ok: false; problem: string };

type Pinning = { releaseId: string; application: string; service: string; configVersions: ConfigVersions };

/**
 * The specs a release pinned. Runtimes it did not pin — Kubernetes runtimes, which render nothing
 * but their name; extensions added to a channel since; every runtime of a release recorded before
 * runtimes were pinned — are read as they are now.
 */
export function pinnedConfig(config: ConfigState, release: Pinning): PinnedConfig {
  const { configVersions: versions } = release;
  const missing = (kind: ConfigKind, name: string, version: number): PinnedConfig => ({
    ok: false,
    problem: `release ${release.releaseId} renders from ${kind} "${name}" version ${version}, which the config does not hold`,
  });
  const application = getConfigVersion(config, "application", release.application, versions.application);
  if (!application) return missing("application", release.application, versions.application);
  const service = getConfigVersion(config, "service", release.service, versions.service);
  if (!service) return missing("service", release.service, versions.service);
  const runtimes = new Map(listConfigs(config, "runtime").map((r) => [r.name, r.spec]));
  for (const [name, version] of Object.entries(versions.runtimes ?? {})) {
    const runtime = getConfigVersion(config, "runtime", name, version);
    if (!runtime) return missing("runtime", name, version);
    runtimes.set(name, runtime.spec);
  }
  return { ok: true, application: application.spec, service: service.spec, runtimes };
}

/** The version of every runtime now: what a new release pins those it deploys to from. */
export function runtimeVersions(config: ConfigState): Record<string, number> {
  return Object.fromEntries(listConfigs(config, "runtime").map((r) => [r.name, r.version]));
}

/**
 * What a release renders with in each of its channels, from its pinned config: the params (with
 * the service's per-channel values) and the constants. Empty when the pinned config is missing.
 */
export function pinnedInputs(
  config: ConfigState,
  release: Pinning & { channels: readonly string[]; params: Readonly<Record<string, ParamValue>> },
): Record<string, ChannelInputs> {
  const pinned = pinnedConfig(config, release);
  if (!pinned.ok) return {};
  return Object.fromEntries(
    release.channels.flatMap((channel) => {
      const inputs = channelInputs(pinned.application, pinned.service, channel, release.params);
      return inputs ? [[channel, inputs]] : [];
    }),
  );
}
