import { parseAllDocuments } from "yaml";
import {
  channelDecider,
  listConfigs,
  releaseDecider,
  releaseSummary,
  streams,
  type Approval,
  type GateResult,
  type ReleaseSummary,
  type RuntimeApply,
  type ServiceInChannelView,
} from "../../core/index.js";
import type { InstructionPayload } from "../../events/index.js";
import type { TimelineEntry } from "../adapters/read-models.js";
import { applicationView } from "./channels.js";
import { readState } from "./commands.js";
import type { ApiDeps } from "./deps.js";
import { readConfig } from "./config.js";
import { listApplications } from "./queries.js";
import { listRuntimes, type RuntimeListItem } from "./runtimes.js";
import { releaseHistory, releaseView, type ReleaseView } from "./releases.js";

/**
 * What the dashboard's pages show, each read in one go from the same projections and streams the
 * read API serves: an application's pipeline (every service in every channel, with what waits
 * behind it and why) and a release with its timeline and what it sent to each runtime.
 */

/** A gate of a release in a channel: its key (`kind:name`), what it says now, and the approval it counts. */
export type GateState = { key: string; result: GateResult; approval?: Approval };

/** A release waiting in a channel, with its gates there. */
export type WaitingRelease = { releaseId: string; summary?: ReleaseSummary; reasons: string[]; gates: GateState[] };

/** One service in one channel: what runs or is on its way there, per runtime, and what waits behind it. */
export type PipelineCell = {
  channel: string;
  state: ServiceInChannelView["state"];
  rollback: boolean;
  /** The release the channel runs or is deploying. */
  current?: ReleaseSummary;
  currentId?: string;
  runtimes: (RuntimeApply & { runtime: string })[];
  waiting: WaitingRelease[];
  /** Waiting releases not shown (the cell shows the newest few). */
  moreWaiting: number;
};

export type PipelineView = {
  application: string;
  channels: { name: string; paused?: { reason?: string; until?: string }; unlinkedRuntimes?: string[] }[];
  rows: { service: string; cells: PipelineCell[] }[];
};

/** Waiting releases a cell shows; the rest are counted. */
const WAITING_SHOWN = 3;
/** Waiting releases, newest first, whose gates one page reads; older ones show the reasons recorded for them. */
const GATES_READ = 60;

/** A release's gates in one channel, each with the approval it counts when it is a manual approval. */
export const gatesOf = (gates: {
  preconditions: Readonly<Record<string, GateResult>>;
  approvals: Readonly<Record<string, Approval>>;
}) =>
  Object.entries(gates.preconditions).map(([key, result]): GateState => {
    const [kind, name] = splitKey(key);
    const approval = kind === "manualApproval" ? entry(gates.approvals, name) : undefined;
    return { key, result, ...(approval ? { approval } : {}) };
  });

/** An application's pipeline: channels in promotion order, a row per service. */
export async function pipelineView(deps: ApiDeps, application: string): Promise<PipelineView> {
  // The config, and the views beside it: one config read, the views not waiting for it.
  const reading = readConfig(deps);
  const [config, view] = await Promise.all([reading, applicationView(deps, application, reading)]);
  const configured = listConfigs(config, "service")
    .filter((s) => s.spec.application === application)
    .map((s) => s.name);
  const seen = view.channels.flatMap((c) => Object.keys(c.services));
  const services = [...new Set([...configured, ...seen])].sort();

  // The summaries of every release shown, and the gates of the newest waiting ones, read at once.
  const ids = view.channels.flatMap((c) => [
    ...Object.values(c.services).flatMap((s) => (s.desiredReleaseId ? [s.desiredReleaseId] : [])),
    ...c.waiting.map((w) => w.releaseId),
  ]);
  const waitingIds = [...new Set(view.channels.flatMap((c) => c.waiting.map((w) => w.releaseId)))]
    .sort()
    .reverse()
    .slice(0, GATES_READ);
  const [stored, gates] = await Promise.all([
    deps.readModels.releases.summaries(application, ids),
    Promise.all(
      waitingIds.map(async (id) => {
        const state = (await readState(deps.store, releaseDecider, streams.release(id))).state;
        return [id, state.status === "none" ? undefined : state.gates] as const;
      }),
    ).then((entries) => new Map(entries)),
  ]);
  const summaryOf = (id: string): ReleaseSummary | undefined => {
    const s = stored.get(id);
    return s ? releaseSummary(s.record, s.deployments) : undefined;
  };

  // What waits in each cell, newest first.
  const waitingByCell = new Map<string, { releaseId: string; reasons: string[] }[]>();
  for (const c of view.channels)
    for (const w of [...c.waiting].sort((a, b) => b.releaseId.localeCompare(a.releaseId))) {
      const service = summaryOf(w.releaseId)?.service;
      if (!service) continue;
      const key = `${service}/${c.name}`;
      waitingByCell.set(key, [...(waitingByCell.get(key) ?? []), w]);
    }

  const rows = services.map((service) => ({
    service,
    cells: view.channels.map((c): PipelineCell => {
      const svc = entry(c.services, service);
      const waiting = waitingByCell.get(`${service}/${c.name}`) ?? [];
      const current = svc?.desiredReleaseId ? summaryOf(svc.desiredReleaseId) : undefined;
      return {
        channel: c.name,
        state: svc?.state ?? "idle",
        rollback: svc?.rollback ?? false,
        ...(current ? { current } : {}),
        ...(svc?.desiredReleaseId ? { currentId: svc.desiredReleaseId } : {}),
        runtimes: Object.entries(svc?.runtimes ?? {}).map(([runtime, r]) => ({ runtime, ...r })),
        waiting: waiting.slice(0, WAITING_SHOWN).map((w) => {
          const summary = summaryOf(w.releaseId);
          const byChannel = gates.get(w.releaseId);
          const channelGates = byChannel ? entry(byChannel, c.name) : undefined;
          return {
            releaseId: w.releaseId,
            ...(summary ? { summary } : {}),
            reasons: w.reasons,
            gates: channelGates ? gatesOf(channelGates) : [],
          };
        }),
        moreWaiting: Math.max(0, waiting.length - WAITING_SHOWN),
      };
    }),
  }));
  return {
    application,
    channels: view.channels.map((c) => ({
      name: c.name,
      ...(c.paused ? { paused: c.paused } : {}),
      ...(c.unlinkedRuntimes ? { unlinkedRuntimes: c.unlinkedRuntimes } : {}),
    })),
    rows,
  };
}

/** What one instruction sent to a runtime: what it applies (kind/name, images) or which task it runs. */
export type InstructionSummary = {
  instructionId: string;
  runtime: string;
  rollback: boolean;
  kind: InstructionPayload["kind"];
  objects: string[];
  images: string[];
  command?: string[];
  status: RuntimeApply["status"];
  message?: string;
};

export type ReleasePage = {
  release: ReleaseView;
  timeline: TimelineEntry[];
  /** Per channel: the instructions dispatched for this release, and the releases it may be rolled back to there. */
  channels: {
    name: string;
    instructions: InstructionSummary[];
    runningHere: boolean;
    rollbackTargets: string[];
    paused?: { reason?: string; until?: string };
  }[];
};

/** A release, its timeline, and per channel what it sent to each runtime and where it could roll back to. */
export async function releasePage(deps: ApiDeps, releaseId: string): Promise<ReleasePage> {
  const [release, timeline] = await Promise.all([releaseView(deps, releaseId), releaseHistory(deps, releaseId)]);
  // What became of each instruction, from the agents' reports in the timeline (the channel view
  // knows only the instructions of what the channel runs now).
  const progress = new Map<string, { status: RuntimeApply["status"]; message?: string }>();
  for (const t of timeline) {
    const status = REPORTED.get(t.type);
    const d = t.data as { instructionId?: unknown; message?: unknown };
    if (!status || typeof d.instructionId !== "string") continue;
    progress.set(d.instructionId, { status, ...(typeof d.message === "string" ? { message: d.message } : {}) });
  }
  const channels = await Promise.all(
    release.channels.map(async (ch) => {
      const instructions = timeline.flatMap((t): InstructionSummary[] => {
        if (t.type !== "InstructionDispatched") return [];
        const d = t.data as {
          instructionId: string;
          releaseId: string;
          channel: string;
          runtime: string;
          rollback?: boolean;
          payload: InstructionPayload;
        };
        if (d.releaseId !== releaseId || d.channel !== ch.name) return [];
        const status = progress.get(d.instructionId) ?? { status: "dispatched" as const };
        return [
          {
            instructionId: d.instructionId,
            runtime: d.runtime,
            rollback: d.rollback ?? false,
            ...summarizePayload(d.payload),
            ...status,
          },
        ];
      });
      const channelState = (await readState(deps.store, channelDecider, streams.channel(release.application, ch.name)))
        .state;
      const here = entry(channelState.services, release.service);
      const runningHere = here?.desired?.releaseId === releaseId;
      const rollbackTargets = runningHere ? [...(here?.history ?? [])].reverse().filter((id) => id !== releaseId) : [];
      const paused = channelState.paused;
      return { name: ch.name, instructions, runningHere, rollbackTargets, ...(paused ? { paused } : {}) };
    }),
  );
  return { release, timeline, channels };
}

/** The agents' reports, by event type, as the status of an instruction. */
const REPORTED = new Map<string, RuntimeApply["status"]>([
  ["InstructionAcknowledged", "acknowledged"],
  ["ApplyStarted", "applying"],
  ["ApplySucceeded", "succeeded"],
  ["ApplyFailed", "failed"],
]);

/** What Slipway sent a runtime: per application, channel and service, the release and how its instruction went. */
export type RuntimeDeployment = {
  application: string;
  channel: string;
  service: string;
  releaseId: string;
  status: RuntimeApply["status"];
  message?: string;
};

/** Every runtime with its agent's status and report, and what Slipway deployed to it, from the channel views. */
export async function runtimesPage(
  deps: ApiDeps,
): Promise<{ runtime: RuntimeListItem; deployed: RuntimeDeployment[] }[]> {
  const [runtimes, applications] = await Promise.all([listRuntimes(deps), listApplications(deps)]);
  const views = (await Promise.all(applications.map((a) => deps.readModels.channelViews(a.name)))).flat();
  const deployed = new Map<string, RuntimeDeployment[]>();
  for (const view of views)
    for (const [service, svc] of Object.entries(view.services))
      for (const [runtime, apply] of Object.entries(svc.runtimes)) {
        const entry: RuntimeDeployment = {
          application: view.application,
          channel: view.channel,
          service,
          releaseId: apply.releaseId,
          status: apply.status,
          ...(apply.message ? { message: apply.message } : {}),
        };
        deployed.set(runtime, [...(deployed.get(runtime) ?? []), entry]);
      }
  return runtimes.map((runtime) => ({
    runtime,
    deployed: (deployed.get(runtime.name) ?? []).sort(
      (a, b) => a.application.localeCompare(b.application) || a.service.localeCompare(b.service),
    ),
  }));
}

function summarizePayload(
  payload: InstructionPayload,
): Pick<InstructionSummary, "kind" | "objects" | "images" | "command"> {
  if (payload.kind === "extensionTask")
    return { kind: payload.kind, objects: [], images: payload.image ? [payload.image] : [], command: payload.cmd };
  const objects: string[] = [];
  const images = new Set<string>();
  for (const manifest of payload.manifests)
    for (const doc of parseAllDocuments(manifest)) {
      if (!("contents" in doc)) continue;
      const value = doc.toJS({ maxAliasCount: 0 }) as unknown;
      if (!value || typeof value !== "object") continue;
      const { kind, metadata } = value as { kind?: unknown; metadata?: { name?: unknown } };
      if (typeof kind === "string") objects.push(`${kind}/${typeof metadata?.name === "string" ? metadata.name : "?"}`);
      collectImages(value, images, 0);
    }
  return { kind: payload.kind, objects, images: [...images] };
}

/** Every `image:` string in a manifest (containers, init containers, Jobs' templates). */
function collectImages(value: unknown, into: Set<string>, depth: number): void {
  if (depth > 32 || !value || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const v of value) collectImages(v, into, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === "image" && typeof v === "string") into.add(v);
    else collectImages(v, into, depth + 1);
  }
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf(":");
  return at < 0 ? [key, ""] : [key.slice(0, at), key.slice(at + 1)];
}

/** An own entry of a record keyed by user-chosen names (never one of Object.prototype's). */
function entry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
