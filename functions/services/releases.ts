import { randomBytes } from "node:crypto";
import {
  canonicalJson,
  channelDecider,
  conflict,
  fold,
  getConfig,
  notFound,
  pinnedInputs,
  releaseDecider,
  runtimeVersions,
  streams,
  type ChannelInputs,
  type ConfigVersions,
  type GateOverride,
  type GateResult,
  type Approval,
} from "../../core/index.js";
import type { Metadata, ParamValue, ReleaseSource, StoredEvent } from "../../events/index.js";
import { ClaimTakenError, CommandReusedError } from "../adapters/event-store.js";
import type { TimelineEntry } from "../adapters/read-models.js";
import { rollbackService } from "./channels.js";
import { handleCommand, readState } from "./commands.js";
import { readConfig } from "./config.js";
import { sha256 } from "./credentials.js";
import type { ApiDeps } from "./deps.js";
import { evaluateOnWritePath } from "./promotion.js";

/** Releases: created from CI, abandoned by operators, and read back with their gates and history. */

/** Release ids sort by creation time: a millisecond timestamp, then randomness. */
export function newReleaseId(now: Date): string {
  return `${releaseIdsFrom(now)}${randomBytes(5).toString("hex")}`;
}

/** The lowest id a release created at or after `time` can have: where a range of ids by creation time starts. */
export function releaseIdsFrom(time: Date): string {
  return `rel-${time.getTime().toString(36).padStart(9, "0")}`;
}

export type NewRelease = {
  application: string;
  service: string;
  params: Record<string, unknown>;
  source?: ReleaseSource;
  /** Who made the change (an API key's name or `slack:<user id>`): they may not approve the release. */
  author?: string;
};

/** How a CI webhook arrived: its `X-Slipway-Delivery` id, and its signature when it was signed. */
export type WebhookDelivery = { id?: string; signature?: string };

/**
 * Creates a release from CI.
 *
 * A delivery id makes a redelivered webhook idempotent: the release it created the first time comes
 * back, marked as a duplicate, and nothing is appended. The id is remembered with a fingerprint of
 * what it asked for (the command marker of the append), so the same id with another body is a
 * conflict, not a redelivery. A signature is accepted for one delivery only: it is claimed in the
 * same transaction that appends the release, so presented again it is that delivery's redelivery,
 * and with another delivery id (or none) a replay. Both are kept as long as the event log.
 */
export async function createRelease(
  deps: ApiDeps,
  input: NewRelease,
  delivery: WebhookDelivery | undefined,
  meta: Metadata,
): Promise<{ releaseId: string; duplicate: boolean }> {
  const commandId = delivery?.id ? `ci-delivery:${delivery.id}` : undefined;
  const fingerprint = commandId ? sha256(canonicalJson(input)) : undefined;
  // The signature's digest is what is kept: enough to know it again, nothing to sign with.
  const claim = delivery?.signature ? `ci-signature:${sha256(delivery.signature)}` : undefined;
  try {
    const seen = await seenBefore(deps, { commandId, fingerprint, claim }, meta);
    if (seen) return { releaseId: seen, duplicate: true };

    const config = await readConfig(deps);
    const application = getConfig(config, "application", input.application);
    if (!application) throw notFound("application.not_found", `application "${input.application}" does not exist`);
    const service = getConfig(config, "service", input.service);
    if (!service || service.spec.application !== input.application)
      throw notFound(
        "service.not_found",
        `service "${input.service}" does not exist in application "${input.application}"`,
      );
    const releaseId = newReleaseId(new Date());
    const result = await handleCommand(
      deps.store,
      releaseDecider,
      streams.release(releaseId),
      {
        type: "CreateRelease",
        releaseId,
        application,
        service,
        params: input.params,
        ...(input.source ? { source: input.source } : {}),
        ...(input.author ? { author: input.author } : {}),
        runtimeVersions: runtimeVersions(config),
      },
      meta,
      {
        ...(commandId ? { commandId, fingerprint } : {}),
        ...(claim ? { claims: [claim] } : {}),
      },
    );
    const id = createdIn(result.events) ?? releaseId;
    const duplicate = id !== releaseId;
    // The same delivery raced in at once, perhaps signed anew: its signature is spent as well.
    if (duplicate && claim && commandId) await spend(deps, claim, commandId, meta);
    // On the write path, so a config change right after finds it (the projector records it too).
    await deps.readModels.putNewestRelease(input.application, input.service, id);
    // The release entered its first channel in the same append: its gates are evaluated now.
    if (!duplicate) await evaluateOnWritePath(deps, result.events);
    return { releaseId: id, duplicate };
  } catch (err) {
    if (err instanceof CommandReusedError)
      throw conflict(
        "delivery.conflict",
        `X-Slipway-Delivery "${delivery?.id ?? ""}" was used before with a different body; a new build needs a new delivery id`,
      );
    if (err instanceof ClaimTakenError) throw replayed();
    throw err;
  }
}

const replayed = () =>
  conflict(
    "webhook.replayed",
    "this signature was accepted before for another delivery; a webhook is accepted once (a redelivery keeps its X-Slipway-Delivery id), so sign each new delivery anew",
  );

/**
 * The release a webhook made before, when it is a redelivery; undefined when it is new. Throws
 * when its signature was spent on another delivery (a replay) or its delivery id on another body.
 */
async function seenBefore(
  deps: ApiDeps,
  { commandId, fingerprint, claim }: { commandId?: string; fingerprint?: string; claim?: string },
  meta: Metadata,
): Promise<string | undefined> {
  const holder = claim ? await deps.store.claimant(claim) : undefined;
  if (holder && (commandId === undefined || holder.commandId !== commandId)) throw replayed();
  if (!commandId) return undefined;
  const previous = await deps.store.previousCommand(commandId, fingerprint);
  if (!previous) return undefined;
  // A redelivery signed anew spends its signature too, or it could be replayed under another id.
  if (claim && !holder) await spend(deps, claim, commandId, meta);
  const releaseId = createdIn(previous.events);
  if (!releaseId) throw new Error(`delivery ${commandId} appended no ReleaseCreated`);
  return releaseId;
}

/** Claims a signature for a delivery that was appended already; a signature another delivery holds is a replay. */
async function spend(deps: ApiDeps, claim: string, commandId: string, meta: Metadata): Promise<void> {
  const { holder } = await deps.store.claim(claim, commandId, meta.occurredAt);
  if (holder.commandId !== commandId) throw replayed();
}

function createdIn(events: readonly StoredEvent[]): string | undefined {
  const created = events.find((e) => e.type === "ReleaseCreated");
  return created?.type === "ReleaseCreated" ? created.data.releaseId : undefined;
}

export async function abandonRelease(
  deps: ApiDeps,
  releaseId: string,
  reason: string | undefined,
  meta: Metadata,
): Promise<{ changed: boolean }> {
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(releaseId),
    { type: "AbandonRelease", ...(reason ? { reason } : {}) },
    meta,
  );
  return { changed: result.events.length > 0 };
}

/**
 * What this release's deployment looks like in a channel: not there, on its way, converged, failed,
 * replaced (another release was deployed in its place) or rolled back from.
 */
export type Deployment = "none" | "deploying" | "converged" | "failed" | "replaced" | "rolledBack";

export type ReleaseView = {
  releaseId: string;
  status: "active" | "abandoned";
  bad?: { reason: string };
  application: string;
  service: string;
  params: Record<string, ParamValue>;
  source: ReleaseSource;
  author?: string;
  /** A CI build, or a config change carrying the params of `basedOn`; and the config versions it renders from. */
  cause: "ci" | "config";
  basedOn?: string;
  configVersions: ConfigVersions;
  channels: {
    name: string;
    started: boolean;
    preconditions: Record<string, GateResult>;
    approvals: Record<string, Approval>;
    supersededBy?: string;
    explicitPromotion?: { reason: string; hold: number };
    /** Gates an admin overrode here, by key: who and why. */
    overrides?: Record<string, GateOverride>;
    deployment: Deployment;
    waiting?: string[];
    /** The params and constants the release renders with there, from its pinned config. */
    inputs?: ChannelInputs;
  }[];
};

async function loadRelease(deps: ApiDeps, releaseId: string) {
  const history = await deps.store.read(streams.release(releaseId));
  const state = fold(releaseDecider, history);
  if (state.status === "none") throw notFound("release.not_found", `release ${releaseId} does not exist`);
  return { history, state };
}

/** A release and the state of its gates in every channel, with what it waits for. */
export async function releaseView(deps: ApiDeps, releaseId: string): Promise<ReleaseView> {
  const { state } = await loadRelease(deps, releaseId);
  const inputs = pinnedInputs(await readConfig(deps), state);
  const views = new Map((await deps.readModels.channelViews(state.application)).map((v) => [v.channel, v]));
  const deployments = await deps.readModels.releases.deployments(state.application, state.releaseId);
  const channels = await Promise.all(
    state.channels.map(async (name) => {
      const g = state.gates[name];
      // The channel view says what runs there now; the release's summary remembers what became of
      // it after it ran there (replaced, rolled back), which the view no longer shows.
      const svc = views.get(name)?.services[state.service];
      const deployment: Deployment =
        svc?.desiredReleaseId === state.releaseId && svc.state !== "idle" ? svc.state : (deployments[name] ?? "none");
      const waiting = (await deps.readModels.waiting(state.application, name)).find(
        (w) => w.releaseId === state.releaseId,
      );
      return {
        name,
        started: g?.started ?? false,
        preconditions: g?.preconditions ?? {},
        approvals: g?.approvals ?? {},
        ...(g?.supersededBy ? { supersededBy: g.supersededBy } : {}),
        ...(g?.explicitPromotion ? { explicitPromotion: g.explicitPromotion } : {}),
        ...(g?.overrides ? { overrides: g.overrides } : {}),
        deployment,
        ...(waiting ? { waiting: waiting.reasons } : {}),
        ...(inputs[name] ? { inputs: inputs[name] } : {}),
      };
    }),
  );
  const { status, application, service, params, source, cause, configVersions } = state;
  const pinning = { cause, ...(state.basedOn ? { basedOn: state.basedOn } : {}), configVersions };
  return {
    releaseId: state.releaseId,
    status,
    ...(state.bad ? { bad: state.bad } : {}),
    application,
    service,
    params,
    source,
    ...(state.author ? { author: state.author } : {}),
    ...pinning,
    channels,
  };
}

/** A release's full history, oldest first: its own events and what happened to it in every channel. */
export async function releaseHistory(deps: ApiDeps, releaseId: string): Promise<TimelineEntry[]> {
  const { history } = await loadRelease(deps, releaseId);
  // The release's own stream is read directly (it is always current); the channel events come from the timeline view.
  const own = history.map(({ streamId, version, type, occurredAt, actor, data }) => ({
    streamId,
    version,
    type,
    occurredAt,
    actor,
    data,
  }));
  const elsewhere = (await deps.readModels.timeline(releaseId)).filter(
    (t) => t.streamId !== streams.release(releaseId),
  );
  return [...own, ...elsewhere].sort(
    (a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.streamId.localeCompare(b.streamId) || a.version - b.version,
  );
}

export type MarkBadResult = {
  changed: boolean;
  /** Channels that ran the release and were rolled back, each to its previous good release. */
  rolledBack: { channel: string; toReleaseId: string }[];
  /** Channels that ran the release but had no good release to go back to. */
  notRolledBack: { channel: string; reason: string }[];
};

/**
 * Marks a release bad: every channel where it waits drops it, no promotion takes it again, and with
 * `rollback` each channel running it (or on its way to it) goes back to the newest release that
 * converged there before it and is not bad itself. Repeating it changes nothing more.
 */
export async function markReleaseBad(
  deps: ApiDeps,
  input: { releaseId: string; reason: string; rollback: boolean },
  meta: Metadata,
): Promise<MarkBadResult> {
  const { releaseId, reason } = input;
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(releaseId),
    { type: "MarkReleaseBad", reason },
    meta,
  );
  const state = result.state;
  if (state.status === "none") throw notFound("release.not_found", `release ${releaseId} does not exist`);
  for (const channel of state.channels) await deps.readModels.clearWaiting(state.application, channel, releaseId);
  const outcome: MarkBadResult = { changed: result.events.length > 0, rolledBack: [], notRolledBack: [] };
  if (!input.rollback) return outcome;
  for (const channel of state.channels) {
    const svc = (await readState(deps.store, channelDecider, streams.channel(state.application, channel))).state
      .services[state.service];
    if (svc?.desired?.releaseId !== releaseId) continue;
    const previous = await previousGood(deps, svc.history, releaseId);
    if (!previous) {
      outcome.notRolledBack.push({
        channel,
        reason: `no release converged in "${channel}" before ${releaseId} that is not marked bad`,
      });
      continue;
    }
    await rollbackService(
      deps,
      {
        application: state.application,
        channel,
        service: state.service,
        releaseId: previous,
        reason: `release ${releaseId} was marked bad: ${reason}`,
      },
      meta,
    );
    outcome.rolledBack.push({ channel, toReleaseId: previous });
  }
  return outcome;
}

/** The newest release of a channel's history, older than `bad`, that is not marked bad. */
async function previousGood(deps: ApiDeps, history: readonly string[], bad: string): Promise<string | undefined> {
  for (const candidate of [...history].reverse()) {
    if (candidate >= bad) continue;
    const state = (await readState(deps.store, releaseDecider, streams.release(candidate))).state;
    if (state.status !== "none" && !state.bad) return candidate;
  }
  return undefined;
}

/**
 * Promotes a release to a channel that holds it back after a rollback — the one way, besides a
 * newer release, to move such a channel forward. The release's gates still apply (an override
 * lifts one of those); the evaluation follows from the event this appends.
 */
export async function promoteExplicitly(
  deps: ApiDeps,
  input: { releaseId: string; channel: string; reason: string },
  meta: Metadata,
): Promise<{ changed: boolean }> {
  const release = (await readState(deps.store, releaseDecider, streams.release(input.releaseId))).state;
  if (release.status === "none") throw notFound("release.not_found", `release ${input.releaseId} does not exist`);
  const svc = (await readState(deps.store, channelDecider, streams.channel(release.application, input.channel))).state
    .services[release.service];
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(input.releaseId),
    { type: "RequestExplicitPromotion", channel: input.channel, reason: input.reason, hold: svc?.hold?.rollbacks ?? 0 },
    meta,
  );
  await evaluateOnWritePath(deps, result.events);
  return { changed: result.events.length > 0 };
}
