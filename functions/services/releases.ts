import { randomBytes } from "node:crypto";
import {
  fold,
  getConfig,
  notFound,
  releaseDecider,
  streams,
  type ChannelView,
  type GateResult,
  type Approval,
} from "../../core/index.js";
import type { Metadata, ParamValue, ReleaseSource } from "../../events/index.js";
import type { TimelineEntry } from "../adapters/read-models.js";
import { handleCommand } from "./commands.js";
import { readConfig } from "./config.js";
import type { ApiDeps } from "./deps.js";

/** Releases: created from CI, abandoned by operators, and read back with their gates and history. */

/** Release ids sort by creation time: a millisecond timestamp, then randomness. */
export function newReleaseId(now: Date): string {
  return `rel-${now.getTime().toString(36).padStart(9, "0")}${randomBytes(5).toString("hex")}`;
}

export type NewRelease = {
  application: string;
  service: string;
  params: Record<string, unknown>;
  source?: ReleaseSource;
};

/**
 * Creates a release from CI. A delivery id makes a redelivered webhook idempotent: the release it
 * created the first time comes back, marked as a duplicate, and nothing is appended.
 */
export async function createRelease(
  deps: ApiDeps,
  input: NewRelease,
  delivery: string | undefined,
  meta: Metadata,
): Promise<{ releaseId: string; duplicate: boolean }> {
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
    },
    meta,
    delivery ? { commandId: `ci-delivery:${delivery}` } : {},
  );
  const created = result.events.find((e) => e.type === "ReleaseCreated");
  const id = created?.type === "ReleaseCreated" ? created.data.releaseId : releaseId;
  return { releaseId: id, duplicate: id !== releaseId };
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

/** What this release's deployment looks like in a channel: not there, on its way, converged, failed or replaced. */
export type Deployment = "none" | "deploying" | "converged" | "failed" | "replaced";

export type ReleaseView = {
  releaseId: string;
  status: "active" | "abandoned";
  application: string;
  service: string;
  params: Record<string, ParamValue>;
  source: ReleaseSource;
  channels: {
    name: string;
    started: boolean;
    preconditions: Record<string, GateResult>;
    approvals: Record<string, Approval>;
    supersededBy?: string;
    deployment: Deployment;
    waiting?: string[];
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
  const views = new Map(
    (await deps.readModels.views<ChannelView>(`app#${state.application}`)).map((v) => [
      v.sk.slice("channel#".length),
      v.view,
    ]),
  );
  const channels = await Promise.all(
    state.channels.map(async (name) => {
      const g = state.gates[name];
      const svc = views.get(name)?.services[state.service];
      const deployment: Deployment =
        svc?.desiredReleaseId === state.releaseId
          ? svc.state === "idle"
            ? "none"
            : svc.state
          : svc?.convergedReleaseId === state.releaseId ||
              Object.values(svc?.runtimes ?? {}).some((r) => r.releaseId === state.releaseId)
            ? "replaced"
            : "none";
      const waiting = (await deps.readModels.waiting(state.application, name)).find(
        (w) => w.releaseId === state.releaseId,
      );
      return {
        name,
        started: g?.started ?? false,
        preconditions: g?.preconditions ?? {},
        approvals: g?.approvals ?? {},
        ...(g?.supersededBy ? { supersededBy: g.supersededBy } : {}),
        deployment,
        ...(waiting ? { waiting: waiting.reasons } : {}),
      };
    }),
  );
  const { status, application, service, params, source } = state;
  return { releaseId: state.releaseId, status, application, service, params, source, channels };
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
