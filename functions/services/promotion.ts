import {
  channelDecider,
  DomainError,
  getConfig,
  pinnedConfig,
  planPromotion,
  releaseDecider,
  streams,
  type ChannelCommand,
  type ChannelState,
  type ConfigState,
  type PromotionPlan,
  type ReleaseState,
} from "../../core/index.js";
import type { Metadata, StoredEvent } from "../../events/index.js";
import { MAX_EVENTS_PER_APPEND, type EventStore } from "../adapters/event-store.js";
import { handleCommand, readState } from "./commands.js";
import { readConfig, runtimesOf } from "./config.js";
import { loggerOf, nowOf, writePathOf, type ApiDeps, type BackendDeps } from "./deps.js";
import { eventKeys } from "./narration.js";
import { pushAll } from "./push.js";

/**
 * Moving releases through channels: carrying out what core's planPromotion decides — recording
 * gate results, requesting approvals, dispatching once every gate passes and pushing at once,
 * scheduling the next evaluation of a time-bound gate. Every step is an idempotent command, so a
 * retry after a crash anywhere in between has the effect of one run.
 */

export async function readChannel(
  deps: { store: EventStore },
  application: string,
  channel: string,
): Promise<ChannelState> {
  return (await readState(deps.store, channelDecider, streams.channel(application, channel))).state;
}

/** How deep settling may go: a soaking release's channel may itself protect a soak further down. */
const MAX_SETTLE_DEPTH = 20;

/**
 * Evaluates one release's gates in one channel and carries out the plan. A plan that asks for
 * other channels to be settled first (protectSoak at a soak's end) gets them evaluated in this same
 * call and is made again against their fresh state: so a channel waiting on a soaking release has
 * decided on it before a newer release displaces it upstream.
 *
 * `maxRuntimes`: a channel with more runtimes is not evaluated (the write path leaves it to the reactor).
 */
export async function evaluate(
  deps: BackendDeps,
  releaseId: string,
  channel: string,
  meta: Metadata,
  options: { depth?: number; maxRuntimes?: number } = {},
): Promise<PromotionPlan> {
  const { depth = 0, maxRuntimes = Infinity } = options;
  const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  if (release.status === "none") return { action: "none", reason: "the release does not exist" };
  const config = await readConfig(deps);
  const application = getConfig(config, "application", release.application);
  const service = getConfig(config, "service", release.service);
  if (!application || !service) return { action: "none", reason: "the application or service is no longer configured" };
  const width = application.spec.releaseChannels.find((c) => c.name === channel)?.runtimes.length ?? 0;
  if (width > maxRuntimes) return { action: "none", reason: `${channel} has more than ${maxRuntimes} runtimes` };
  // Rendered from the config the release pinned; gated by the application as it is now.
  const pinned = pinnedConfig(config, release);
  const readChannels = async () =>
    Object.fromEntries(
      await Promise.all(
        application.spec.releaseChannels.map(
          async (c) => [c.name, await readChannel(deps, release.application, c.name)] as const,
        ),
      ),
    );
  const plan = async (settled?: Record<string, string>) =>
    planPromotion({
      now: nowOf(deps).toISOString(),
      application: application.spec,
      service: service.spec,
      runtimes: runtimesOf(config),
      pinned,
      release,
      channel,
      channels: await readChannels(),
      ...(settled ? { settled } : {}),
    });
  const first = await plan();
  if (first.action === "wait" && first.settle && depth < MAX_SETTLE_DEPTH) {
    const settled: Record<string, string> = {};
    for (const s of first.settle)
      settled[s.channel] = whyNotTaken(await evaluate(deps, s.releaseId, s.channel, meta, { depth: depth + 1 }));
    return carryOut(deps, { release, channel, config }, await plan(settled), meta);
  }
  return carryOut(deps, { release, channel, config }, first, meta);
}

/** Records a plan's gate results and approvals, then dispatches, marks waiting or schedules as it says. */
async function carryOut(
  deps: BackendDeps,
  at: { release: Exclude<ReleaseState, { status: "none" }>; channel: string; config: ConfigState },
  plan: PromotionPlan,
  meta: Metadata,
): Promise<PromotionPlan> {
  const { release, channel, config } = at;
  const { releaseId } = release;
  const now = nowOf(deps);
  const releaseStream = streams.release(releaseId);

  if (plan.action === "supersede") {
    await handleCommand(
      deps.store,
      releaseDecider,
      releaseStream,
      { type: "SupersedeRelease", channel, supersededBy: plan.supersededBy },
      meta,
    );
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
    return plan;
  }
  if (plan.action === "none") {
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
    return plan;
  }

  for (const gate of plan.gates) {
    await handleCommand(
      deps.store,
      releaseDecider,
      releaseStream,
      { type: "RecordPreconditionResult", channel, precondition: gate.key, result: gate.result },
      meta,
    );
  }
  // Whether the release can be rendered is a gate of its own: a config problem blocks it, visibly.
  const rendered =
    plan.action === "deploy"
      ? { state: "satisfied" as const }
      : plan.renderProblem
        ? { state: "blocked" as const, reason: plan.renderProblem }
        : undefined;
  if (rendered && (rendered.state === "blocked" || release.gates[channel]?.preconditions.render)) {
    await handleCommand(
      deps.store,
      releaseDecider,
      releaseStream,
      { type: "RecordPreconditionResult", channel, precondition: "render", result: rendered },
      meta,
    );
  }
  for (const a of plan.requestApprovals) {
    await handleCommand(
      deps.store,
      releaseDecider,
      releaseStream,
      { type: "RequestApproval", channel, approval: a.approval, minApprovers: a.minApprovers },
      meta,
    );
  }
  if (plan.action === "wait") {
    const reasons = [
      ...(plan.paused ? [plan.paused] : []),
      ...(plan.renderProblem ? [plan.renderProblem] : []),
      ...plan.gates.flatMap((g) => (g.result.state === "blocked" ? [g.result.reason] : [])),
    ];
    await deps.readModels.markWaiting(release.application, channel, releaseId, reasons);
  }
  if (plan.action === "deploy" && plan.instructions) {
    try {
      const dispatched = await dispatchInParts(
        deps.store,
        streams.channel(release.application, channel),
        {
          type: "DeployRelease",
          application: release.application,
          channel,
          service: release.service,
          releaseId,
          instructions: plan.instructions,
          ...(plan.explicitHold !== undefined ? { explicitHold: plan.explicitHold } : {}),
          ...(plan.basedOn ? { basedOn: plan.basedOn } : {}),
        },
        // Stamped when decided, not when the evaluation began: the log's times then say what came first.
        { ...meta, occurredAt: nowOf(deps).toISOString() },
      );
      // Push at once rather than a stream hop later; the reactor pushes whatever this did not.
      await pushAll(
        deps,
        dispatched.flatMap((e) => (e.type === "InstructionDispatched" ? [e.data] : [])),
        meta,
        config,
      );
    } catch (err) {
      // Paused, or rolled back, between planning and dispatching: the channel's own rule wins, and
      // resuming (or an explicit promotion) evaluates the release again.
      if (!(err instanceof DomainError && (err.code === "channel.paused" || err.code === "channel.rolled_back")))
        throw err;
      loggerOf(deps).info(`${channel} holds ${releaseId}: ${err.message}`, { releaseId, channel });
      await deps.readModels.markWaiting(release.application, channel, releaseId, [err.message]);
      return plan;
    }
    await deps.readModels.clearWaiting(release.application, channel, releaseId);
  }
  if (plan.wakeAt) {
    loggerOf(deps).debug(`${channel}: ${releaseId} is evaluated again at ${plan.wakeAt}`, { releaseId, channel });
    await deps.scheduler.schedule({ releaseId, channel, at: plan.wakeAt, correlationId: meta.correlationId }, now);
  }
  return plan;
}

/**
 * The release and channel whose gates an event makes worth evaluating: a promotion started, an
 * approval decided, a gate overridden, an explicit promotion asked for. The reactor evaluates on
 * these a stream hop later; the write path that appended them, at once (evaluateOnWritePath).
 */
export function evaluationOf(e: StoredEvent): { releaseId: string; channel: string } | undefined {
  switch (e.type) {
    case "PromotionStarted":
    case "ApprovalGranted":
    case "ApprovalRejected":
    case "GateOverridden":
    case "ExplicitPromotionRequested":
      return { releaseId: e.data.releaseId, channel: e.data.channel };
    default:
      return undefined;
  }
}

/**
 * Whether an error says the release was abandoned while something was being done for it: nothing
 * more is owed to it, so the reaction is stale rather than failed (and retrying it would hold up
 * every stream record behind it).
 */
export function abandonedMeanwhile(err: unknown): err is DomainError {
  return err instanceof DomainError && err.code === "release.abandoned";
}

/**
 * A channel with more runtimes than one dispatch append holds is evaluated by the reactor alone:
 * its dispatch and pushes take longer than an HTTP request should wait (API Gateway gives up after
 * 30 s), and they are spread over the stream consumer's batches instead.
 */
export const WRITE_PATH_MAX_RUNTIMES = 90;

/**
 * Evaluates, dispatches and pushes what the events a command just appended make worth evaluating,
 * in the request that appended them: no stream hop between a CI webhook (or an approval) and the
 * instruction at the agent. Nothing depends on it finishing — the reactor evaluates the same
 * events again, idempotently, and does whatever this did not — so a failure is logged, not
 * thrown: the command it follows has been recorded.
 */
export async function evaluateOnWritePath(from: ApiDeps | BackendDeps, events: readonly StoredEvent[]): Promise<void> {
  const deps = writePathOf(from);
  if (!deps) return;
  for (const e of events) {
    const at = evaluationOf(e);
    if (!at) continue;
    const meta: Metadata = {
      occurredAt: nowOf(deps).toISOString(),
      actor: { kind: "system", id: "api" },
      correlationId: e.correlationId,
      causationId: e.eventId,
    };
    try {
      // What it logs carries the event it follows, and so the correlation id of its story (as the reactor's lines do).
      const following = { ...deps, logger: loggerOf(deps).child(eventKeys(e)) };
      await evaluate(following, at.releaseId, at.channel, meta, { maxRuntimes: WRITE_PATH_MAX_RUNTIMES });
    } catch (err) {
      if (abandonedMeanwhile(err)) continue;
      loggerOf(deps).warn(
        `${at.channel}: evaluating ${at.releaseId} on the write path failed; the reactor evaluates it again`,
        { releaseId: at.releaseId, channel: at.channel, error: err },
      );
    }
  }
}

/** Why an evaluation did not dispatch its release, for the channel that waited on it. */
function whyNotTaken(plan: PromotionPlan): string {
  if (plan.action === "none") return plan.reason;
  if (plan.action === "supersede") return `superseded by ${plan.supersededBy}`;
  const blocked = [
    ...(plan.paused ? [plan.paused] : []),
    ...(plan.renderProblem ? [plan.renderProblem] : []),
    ...plan.gates.flatMap((g) => (g.result.state === "blocked" ? [g.result.reason] : [])),
  ];
  return blocked.join("; ") || "it was not dispatched";
}

/** Evaluates the releases waiting in a channel, newest first, so a newer one supersedes older ones. */
export async function evaluateWaiting(
  deps: BackendDeps,
  application: string,
  channel: string,
  meta: Metadata,
  except?: string,
): Promise<void> {
  const waiting = (await deps.readModels.waiting(application, channel))
    .map((w) => w.releaseId)
    .filter((id) => id !== except);
  for (const releaseId of waiting.sort().reverse()) await evaluate(deps, releaseId, channel, meta);
}

/**
 * A release enters a channel (its gates are evaluated as the PromotionStarted it appends is seen,
 * or at once by evaluateOnWritePath). Returns the events appended.
 */
export async function enterChannel(
  deps: { store: EventStore },
  releaseId: string,
  channel: string,
  meta: Metadata,
): Promise<StoredEvent[]> {
  return (
    await handleCommand(
      deps.store,
      releaseDecider,
      streams.release(releaseId),
      { type: "StartPromotion", channel },
      meta,
    )
  ).events;
}

/** Once a release converged in a channel it enters the next one, if there is one. Returns the events appended. */
export async function enterNextChannel(
  deps: { store: EventStore },
  releaseId: string,
  converged: string,
  meta: Metadata,
): Promise<StoredEvent[]> {
  const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  if (release.status === "none") return [];
  const next = release.channels[release.channels.indexOf(converged) + 1];
  return next ? enterChannel(deps, releaseId, next, meta) : [];
}

/**
 * A changed application may unblock releases waiting on its gates. (A release renders from the
 * config it pinned, so a fixed manifest reaches the channels as a config release instead.)
 */
export async function evaluateAfterConfigChange(
  deps: BackendDeps,
  kind: "runtime" | "application" | "service",
  name: string,
  meta: Metadata,
): Promise<void> {
  if (kind === "runtime") return;
  const config = await readConfig(deps);
  const application = kind === "application" ? name : getConfig(config, "service", name)?.spec.application;
  const app = application ? getConfig(config, "application", application) : undefined;
  for (const channel of app?.spec.releaseChannels ?? []) await evaluateWaiting(deps, app!.name, channel.name, meta);
}

/** An abandoned release, or one marked bad, waits nowhere any more. */
export async function forgetRelease(deps: BackendDeps, releaseId: string): Promise<void> {
  const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
  if (release.status === "none") return;
  for (const channel of release.channels) await deps.readModels.clearWaiting(release.application, channel, releaseId);
}

/** Instructions per append: the event store takes 98 events at once, and a rollback adds one of its own. */
export const DISPATCH_PART = MAX_EVENTS_PER_APPEND - 8;

/**
 * Dispatches a deploy or rollback to a channel. A channel with more runtimes than one append holds
 * gets its instructions in parts, each naming the total so the channel cannot converge early; a
 * crash between parts is finished by the next evaluation (the decider dispatches only what is
 * missing). Returns the events this call appended: a part another evaluation of the same release
 * appended first (the same command id — the write path and the reactor racing) is that one's to
 * push, not this one's, so nothing goes out twice.
 */
export async function dispatchInParts(
  store: EventStore,
  stream: string,
  command: Extract<ChannelCommand, { type: "DeployRelease" | "RollbackService" }>,
  meta: Metadata,
): Promise<StoredEvent[]> {
  const parts: (typeof command.instructions)[] = [];
  for (let i = 0; i < command.instructions.length; i += DISPATCH_PART)
    parts.push(command.instructions.slice(i, i + DISPATCH_PART));
  if (!parts.length) parts.push([]);
  const appended: StoredEvent[] = [];
  for (const instructions of parts) {
    const part = { ...command, instructions, ...(parts.length > 1 ? { total: command.instructions.length } : {}) };
    const id =
      command.type === "DeployRelease" ? `deploy:${instructions[0]?.instructionId ?? command.releaseId}` : undefined;
    const result = await handleCommand(store, channelDecider, stream, part, meta, id ? { commandId: id } : {});
    if (!result.duplicate) appended.push(...result.events);
  }
  return appended;
}
