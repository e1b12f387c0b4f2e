import type { z } from "zod";
import type { Approval } from "./manual-approval.js";

/**
 * A gate kind: one kind of precondition a release channel can put on a release. Everything about a
 * kind lives in its entry — what users write, how it is checked against the rest of the config, how
 * it evaluates — so a new kind is one file (and one line in registry.ts).
 */

/** What a gate evaluates to. `until`: the instant only time will change it, when it is evaluated again. */
/** A gate's verdict. A satisfied gate may say why it passes when that is news (an override, a released hold). */
export type GateResult = { state: "satisfied"; note?: string } | { state: "blocked"; reason: string; until?: string };

/** What the gates of one release in one channel look at. */
export type GateContext = {
  now: string;
  releaseId: string;
  /** Per upstream channel: the release it converged on for this service, and since when it is healthy. */
  upstream: Readonly<
    Record<
      string,
      { releaseId?: string; healthySince?: string; failed?: { releaseId: string; message: string } } | undefined
    >
  >;
  /** This release's approvals in this channel, by approval name. */
  approvals: Readonly<Record<string, Approval | undefined>>;
};

/** A precondition of one kind, as the model holds it: the kind plus what users wrote under its key. */
export type PreconditionOf<K extends string, Body extends z.ZodType> = Flat<{ kind: K } & z.output<Body>>;
type Flat<T> = { [P in keyof T]: T[P] } & {};

/** The preconditions of one kind in one channel, each with its index among the channel's preconditions. */
export type Located<P> = { precondition: P; index: number };

/**
 * Where a cross-object check runs: the application, its release channels in promotion order, and
 * the index of the channel whose gates are checked. Names only — the gates need no more, and the
 * application's type is itself built from the gate kinds.
 */
export type ChannelValidation = { application: string; channels: readonly string[]; channel: number };

/** A problem with a precondition; `field` names the field under the kind's key, if it is about one. */
export type GateIssue = { index: number; field?: string; message: string };

export type ApprovalRequest = { approval: string; minApprovers: number };

/** A soak a gate imposes on an upstream channel: a release must stay there, healthy, this long. */
export type Soak = { channel: string; seconds: number };

// Methods, not function-valued properties: their parameters are checked bivariantly, which lets
// the registry hold entries of different kinds in one list.
export type GateKind<K extends string = string, Body extends z.ZodType = z.ZodType> = {
  /** The kind, which is also the key users write: `- releaseChannelStable: {…}`. */
  readonly kind: K;
  /** What users write under the key. It has no field `kind`: the model uses that to tell kinds apart. */
  readonly body: Body;
  /** The gate's identity in its channel. Its results are recorded under it in release events, so it must not change. */
  key(p: PreconditionOf<K, Body>): string;
  /** A short sentence for people: `staging stable for 10m`. */
  explain(p: PreconditionOf<K, Body>): string;
  evaluate(p: PreconditionOf<K, Body>, ctx: GateContext): GateResult;
  /** Checks what its schema cannot: against the application, and against the channel's other gates of this kind. */
  validate?(gates: readonly Located<PreconditionOf<K, Body>>[], where: ChannelValidation): GateIssue[];
  /** Approvals to ask people for as soon as the release enters the channel. */
  approvals?(p: PreconditionOf<K, Body>): ApprovalRequest[];
  /** The soak it makes a release sit through upstream, which protectSoak keeps newer releases from cutting short. */
  soak?(p: PreconditionOf<K, Body>): Soak;
  /** Whether an admin may override it, blocked, for one release in one channel (recorded with who and why). */
  readonly overridable: boolean;
};

/** Declares a gate kind: its kind and body type the preconditions its methods take. */
export function gateKind<K extends string, Body extends z.ZodType>(
  entry: GateKind<K, Body> & NoKindField<Body>,
): GateKind<K, Body> {
  return entry;
}
type NoKindField<Body extends z.ZodType> = "kind" extends keyof z.output<Body>
  ? { body: "a gate's body must not have a field named kind" }
  : unknown;

/** A problem with one of an application's own gates; `path` leads from the gate to the field, if it is about one. */
export type ApplicationGateIssue = { index: number; path?: PropertyKey[]; message: string };

/**
 * A gate kind listed on the application rather than under a channel's preconditions — a freeze —
 * each gate naming the channels it holds. Promotion evaluates the ones that apply to a channel
 * next to the channel's own, through the registry, and records them the same way.
 */
export type ApplicationGateKind<F extends string = string, Body extends z.ZodType = z.ZodType> = {
  /** The kind, which starts each gate's key: `freeze:<name>`. */
  readonly kind: string;
  /** The application's field that lists them: `freezes: [...]`. */
  readonly field: F;
  /** What users write for one of them. */
  readonly body: Body;
  readonly overridable: boolean;
  /** Whether the gate holds releases in this channel. */
  appliesTo(g: z.output<Body>, channel: string): boolean;
  /** The gate's identity; its results are recorded under it in release events. */
  key(g: z.output<Body>): string;
  explain(g: z.output<Body>): string;
  evaluate(g: z.output<Body>, ctx: GateContext): GateResult;
  /** Checks what its schema cannot: against the application's channels, and against the other gates of its kind. */
  validate?(
    gates: readonly z.output<Body>[],
    where: { application: string; channels: readonly string[] },
  ): ApplicationGateIssue[];
};

/** Declares an application gate kind: its field and body type the gates its methods take. */
export function applicationGateKind<F extends string, Body extends z.ZodType>(
  entry: ApplicationGateKind<F, Body>,
): ApplicationGateKind<F, Body> {
  return entry;
}
