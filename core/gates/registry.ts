import * as z from "zod";
import { exactlyOne } from "../config/fields.js";
import type { Application } from "../config/schema.js";
import { deployWindow } from "./deploy-window.js";
import { freeze } from "./freeze.js";
import type {
  ApplicationGateKind,
  ApprovalRequest,
  GateContext,
  GateKind,
  GateResult,
  PreconditionOf,
  Soak,
} from "./gate.js";
import { manualApproval } from "./manual-approval.js";
import { releaseChannelStable } from "./release-channel-stable.js";

/**
 * Every gate kind a precondition can be. This list is the one place that knows them all: the
 * precondition schema, cross-object validation and evaluation are all derived from it.
 */
export const gateKinds = [releaseChannelStable, manualApproval, deployWindow] as const;

/** Every gate kind an application lists itself, each under its own field (`freezes`), for the channels it names. */
export const applicationGateKinds = [freeze] as const;

type Kind = (typeof gateKinds)[number];
type ModelOf<G> = G extends { kind: infer K extends string; body: infer Body extends z.ZodType }
  ? PreconditionOf<K, Body>
  : never;

/** A precondition as the model holds it: `{ kind: "manualApproval", name?, minApprovers }` and so on. */
export type Precondition = ModelOf<Kind>;

// ── the schema: YAML's one-key objects in, the discriminated union out ─────────────────────

type DocumentShape = { [G in Kind as G["kind"]]: z.ZodOptional<G["body"]> };
const PreconditionDocument = z
  .strictObject(Object.fromEntries(gateKinds.map((g) => [g.kind, g.body.optional()])) as DocumentShape)
  .superRefine(
    exactlyOne(
      gateKinds.map((g) => g.kind),
      "a precondition",
    ),
  );

/**
 * Users write `- releaseChannelStable: {releaseChannel: staging}`; the model holds
 * `{ kind: "releaseChannelStable", releaseChannel: "staging" }`. A codec rather than a transform,
 * so a model can be written back as the document it came from (z.encode) — which is what the
 * config events record and what users get back.
 */
export const Precondition = z.codec(PreconditionDocument, z.custom<Precondition>(), {
  decode: (doc) => {
    for (const g of gateKinds) {
      const body = doc[g.kind];
      if (body !== undefined) return { ...body, kind: g.kind } as Precondition;
    }
    throw new Error("unreachable: the document schema admits exactly one gate kind");
  },
  encode: ({ kind, ...body }) => ({ [kind]: body }) as z.output<typeof PreconditionDocument>,
});

// ── what each kind does, looked up by the precondition's kind ─────────────────────────────

const byKind = new Map<string, GateKind>(gateKinds.map((g) => [g.kind, g]));

function kindOf(p: Precondition): GateKind {
  const entry = byKind.get(p.kind);
  if (!entry) throw new Error(`unknown gate kind ${p.kind}`);
  return entry;
}

/** The stable identity of a gate within its channel, under which its results are recorded. */
export const preconditionKey = (p: Precondition): string => kindOf(p).key(p);

/** A short sentence saying what the gate waits for, for people: `approval "cab" by 2 approvers`. */
export const explainPrecondition = (p: Precondition): string => kindOf(p).explain(p);

export const evaluatePrecondition = (p: Precondition, ctx: GateContext): GateResult => kindOf(p).evaluate(p, ctx);

/** The approvals to ask for when a release enters a channel with this gate. */
export const approvalsToRequest = (p: Precondition): ApprovalRequest[] => kindOf(p).approvals?.(p) ?? [];

/** The soak this gate makes a release sit through in an upstream channel, if any. */
export const soakOf = (p: Precondition): Soak | undefined => kindOf(p).soak?.(p);

/**
 * Cross-object problems with one channel's preconditions, in config order, each with its path
 * from the channel: `preconditions[0].releaseChannelStable.releaseChannel`.
 */
export function preconditionIssues(
  application: Application,
  channel: number,
): { path: PropertyKey[]; message: string }[] {
  const preconditions = application.releaseChannels[channel]?.preconditions ?? [];
  return gateKinds
    .flatMap((g: GateKind) => {
      const mine = preconditions.flatMap((precondition, index) =>
        precondition.kind === g.kind ? [{ precondition, index }] : [],
      );
      const where = {
        application: application.name,
        channels: application.releaseChannels.map((c) => c.name),
        channel,
      };
      return mine.length && g.validate ? g.validate(mine, where).map((issue) => ({ kind: g.kind, ...issue })) : [];
    })
    .sort((a, b) => a.index - b.index)
    .map((i) => ({ path: ["preconditions", i.index, ...(i.field ? [i.kind, i.field] : [])], message: i.message }));
}

// ── the application's own gates (freezes) ─────────────────────────────────────────────────

type ApplicationKind = (typeof applicationGateKinds)[number];
type ApplicationGateFields = {
  [G in ApplicationKind as G["field"]]: z.ZodOptional<z.ZodArray<G["body"]>>;
};

/** The application's fields that list its own gates: `freezes: [...]`. Optional, so stored applications read as they were. */
export const applicationGateFields = Object.fromEntries(
  applicationGateKinds.map((g) => [g.field, g.body.array().max(100, { error: "must list at most 100" }).optional()]),
) as ApplicationGateFields;

const listed = (application: Application, g: ApplicationGateKind): unknown[] =>
  ((application as Record<string, unknown>)[g.field] as unknown[] | undefined) ?? [];

/** The application's own gates that hold releases in one channel, evaluated, in config order. */
export function evaluateApplicationGates(
  application: Application,
  channel: string,
  ctx: GateContext,
): { key: string; result: GateResult }[] {
  return applicationGateKinds.flatMap((g: ApplicationGateKind) =>
    listed(application, g)
      .filter((gate) => g.appliesTo(gate, channel))
      .map((gate) => ({ key: g.key(gate), result: g.evaluate(gate, ctx) })),
  );
}

/** Cross-object problems with the application's own gates, each with its path from the application: `freezes[0].channels[1]`. */
export function applicationGateIssues(application: Application): { path: PropertyKey[]; message: string }[] {
  const where = { application: application.name, channels: application.releaseChannels.map((c) => c.name) };
  return applicationGateKinds.flatMap((g: ApplicationGateKind) =>
    (g.validate?.(listed(application, g), where) ?? []).map((i) => ({
      path: [g.field, i.index, ...(i.path ?? [])],
      message: i.message,
    })),
  );
}

// ── overrides ──────────────────────────────────────────────────────────────────────────────

// Every key a kind records starts with its kind (`manualApproval:cab`, `deployWindow`, `freeze:xmas`).
const overridability = new Map<string, boolean>(
  [...gateKinds, ...applicationGateKinds].map((g: { kind: string; overridable: boolean }) => [g.kind, g.overridable]),
);

/**
 * Whether an admin may override the gate recorded under `key` for one release in one channel.
 * Gates no kind declares (protectSoak, render) may not be: they are not judgement calls.
 */
export const isOverridable = (key: string): boolean => overridability.get(key.split(":")[0]!) === true;

/** The gate kinds an override may lift, in registry order. */
export const overridableKinds = (): string[] =>
  [...overridability].flatMap(([kind, overridable]) => (overridable ? [kind] : []));
