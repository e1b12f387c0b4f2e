import {
  channelDecider,
  getConfig,
  notFound,
  pinnedConfig,
  planRollback,
  releaseDecider,
  runtimeDecider,
  streams,
  type ChannelView,
  type ConfigState,
} from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import { handleCommand, readState } from "./commands.js";
import { agentRuntimeOf, readConfig, runtimesOf } from "./config.js";
import { nowOf, type ApiDeps } from "./deps.js";
import { dispatchInParts } from "./promotion.js";

/** Operating a release channel: pause, resume, roll a service back, and the application's view of its channels. */

async function assertChannel(deps: ApiDeps, application: string, channel: string) {
  const config = await readConfig(deps);
  const app = getConfig(config, "application", application);
  if (!app) throw notFound("application.not_found", `application "${application}" does not exist`);
  if (!app.spec.releaseChannels.some((c) => c.name === channel))
    throw notFound("channel.not_found", `release channel "${channel}" does not exist in application "${application}"`);
  return { config, app };
}

/** Pauses a channel; with `until` (RFC 3339, any offset) it resumes by itself then. */
export async function pauseChannel(
  deps: ApiDeps,
  application: string,
  channel: string,
  pause: { reason?: string | undefined; until?: string | undefined },
  meta: Metadata,
): Promise<{ changed: boolean }> {
  await assertChannel(deps, application, channel);
  const { reason, until } = pause;
  // Stored in UTC: the wake-up that ends the pause names it by this very string.
  const timed = until ? { until: new Date(until).toISOString(), now: nowOf(deps).toISOString() } : {};
  const result = await handleCommand(
    deps.store,
    channelDecider,
    streams.channel(application, channel),
    { type: "PauseChannel", application, channel, ...(reason ? { reason } : {}), ...timed },
    meta,
  );
  return { changed: result.events.length > 0 };
}

export async function resumeChannel(
  deps: ApiDeps,
  application: string,
  channel: string,
  meta: Metadata,
): Promise<{ changed: boolean }> {
  await assertChannel(deps, application, channel);
  const result = await handleCommand(
    deps.store,
    channelDecider,
    streams.channel(application, channel),
    { type: "ResumeChannel", application, channel },
    meta,
  );
  return { changed: result.events.length > 0 };
}

/** Rolls a service in a channel back to a release that converged there before, skipping the channel's gates. */
export async function rollbackService(
  deps: ApiDeps,
  input: { application: string; channel: string; service: string; releaseId: string; reason?: string },
  meta: Metadata,
): Promise<{ changed: boolean; instructions: string[] }> {
  const { application, channel, service, releaseId, reason } = input;
  const { config, app } = await assertChannel(deps, application, channel);
  const serviceConfig = getConfig(config, "service", service);
  if (!serviceConfig) throw notFound("service.not_found", `service "${service}" does not exist`);
  const stream = streams.channel(application, channel);
  const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  const command = planRollback({
    application: app.spec,
    channel,
    service: serviceConfig.spec,
    runtimes: runtimesOf(config),
    // A rollback renders the release as it was: from the config it pinned.
    ...(release.status === "none" ? {} : { pinned: pinnedConfig(config, release) }),
    release,
    channelState: (await readState(deps.store, channelDecider, stream)).state,
    ...(reason ? { reason } : {}),
  });
  const appended = (await dispatchInParts(deps.store, stream, command, meta)).length;
  return { changed: appended > 0, instructions: appended ? command.instructions.map((i) => i.instructionId) : [] };
}

export type ApplicationView = {
  application: string;
  version: number;
  channels: {
    name: string;
    paused?: { reason?: string; until?: string };
    services: ChannelView["services"];
    waiting: { releaseId: string; reasons: string[] }[];
    /** The channel's runtimes no agent has registered for since they were linked: nothing deploys there. */
    unlinkedRuntimes?: string[];
  }[];
};

/** An application's channels: per service the desired and converged release, per runtime what it applied, and what waits and why. */
export async function applicationView(
  deps: ApiDeps,
  name: string,
  given?: ConfigState | Promise<ConfigState>,
): Promise<ApplicationView> {
  // The views do not depend on the config: both are read at once.
  const [config, stored] = await Promise.all([given ?? readConfig(deps), deps.readModels.channelViews(name)]);
  const application = getConfig(config, "application", name);
  if (!application) throw notFound("application.not_found", `application "${name}" does not exist`);
  const views = new Map(stored.map((v) => [v.channel, v]));
  const linked = await linkedRuntimes(
    deps,
    config,
    application.spec.releaseChannels.flatMap((ch) => ch.runtimes.map((r) => r.runtime)),
  );
  const channels = await Promise.all(
    application.spec.releaseChannels.map(async (ch) => {
      const view = views.get(ch.name);
      const unlinked = ch.runtimes.map((r) => r.runtime).filter((r) => !linked.get(r));
      return {
        name: ch.name,
        ...(view?.paused ? { paused: view.paused } : {}),
        services: view?.services ?? {},
        waiting: await deps.readModels.waiting(name, ch.name),
        ...(unlinked.length ? { unlinkedRuntimes: unlinked } : {}),
      };
    }),
  );
  return { application: name, version: application.version, channels };
}

/**
 * Whether an agent has registered for each runtime (an extension's: its proxy's) since it was
 * linked: from the projector's items, 100 runtimes a request; a runtime it has none for yet (its
 * stream predates them, or it was never linked) from its stream.
 */
async function linkedRuntimes(deps: ApiDeps, config: ConfigState, runtimes: string[]): Promise<Map<string, boolean>> {
  const names = [...new Set(runtimes)];
  const agents = [...new Set(names.map((r) => agentRuntimeOf(config, r)))];
  const projected = await deps.readModels.runtimesLinked(agents);
  const fromStream = async (agent: string) =>
    projected.get(agent) ?? (await readState(deps.store, runtimeDecider, streams.runtime(agent))).state.linked;
  const linked = new Map(await Promise.all(agents.map(async (a) => [a, await fromStream(a)] as const)));
  return new Map(names.map((r) => [r, linked.get(agentRuntimeOf(config, r)) ?? false]));
}
