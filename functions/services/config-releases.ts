import {
  configDecider,
  DomainError,
  planConfigRelease,
  releaseDecider,
  servicesAffectedBy,
  streams,
  type ConfigKind,
} from "../../core/index.js";
import type { Metadata, StoredEvent } from "../../events/index.js";
import { handleCommand, readState } from "./commands.js";
import { loggerOf, nowOf, type BackendDeps } from "./deps.js";
import { newReleaseId } from "./releases.js";

/**
 * Config releases: a config change that alters what a service renders goes out as a release of
 * that service — the newest release's params with the config as it is now — through the same
 * gates as a build (see core/config-release.ts).
 */

/**
 * Creates a config release for every service whose rendering the change altered. Idempotent: the
 * command id names the release it is based on and the config version it renders, so a redelivered
 * event, or each event of one apply of several documents, makes one release. A release the config
 * cannot take — the newest release's params no longer fit the service's parameters — is refused
 * and logged, not retried: no retry would change the answer, and the next build carries the
 * config out. Returns the config releases made for the change (made now, or by an earlier run).
 */
export async function createConfigReleases(
  deps: BackendDeps,
  change: { kind: ConfigKind; name: string; actor: StoredEvent["actor"] },
  meta: Metadata,
): Promise<string[]> {
  const { state: config, version } = await readState(deps.store, configDecider, streams.config());
  const made: string[] = [];
  for (const service of servicesAffectedBy(config, change.kind, change.name)) {
    const newestId = await deps.readModels.newestRelease(service.spec.application, service.name);
    if (!newestId) continue;
    const newest = (await readState(deps.store, releaseDecider, streams.release(newestId))).state;
    const plan = planConfigRelease({
      config,
      newest,
      releaseId: newReleaseId(nowOf(deps)),
      ...(change.actor.kind === "system" ? {} : { author: change.actor.id }),
    });
    if (plan.action === "none") continue;
    try {
      const result = await handleCommand(
        deps.store,
        releaseDecider,
        streams.release(plan.command.releaseId),
        plan.command,
        meta,
        { commandId: `config-release:${newestId}:${version}` },
      );
      const created = result.events.find((e) => e.type === "ReleaseCreated");
      if (created?.type !== "ReleaseCreated") continue;
      await deps.readModels.putNewestRelease(service.spec.application, service.name, created.data.releaseId);
      made.push(created.data.releaseId);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const issues = err.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
      loggerOf(deps).warn(
        `config release of service "${service.name}" (based on ${newestId}, config version ${version}) refused: ${err.code}: ${err.message}${issues ? ` (${issues})` : ""}`,
        { application: service.spec.application, service: service.name, basedOn: newestId },
      );
    }
  }
  return made;
}
