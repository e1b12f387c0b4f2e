import type { Decider } from "../../core/index.js";
import type { DomainEvent, Metadata, StoredEvent } from "../../events/index.js";
import { ConcurrencyError, type AppendOptions, type EventStore } from "../adapters/event-store.js";

export type HandleResult<State> = {
  state: State;
  /** The events this command appended (or, for a retried command id, appended the first time). */
  events: StoredEvent[];
  /** Set when the command id had been appended before: `events` are that append's, not this one's. */
  duplicate?: true;
  version: number;
};

type Known = { version: number; state: unknown };
const known = new WeakMap<EventStore, WeakMap<object, Map<string, Known>>>();
/** Streams whose folded state a container keeps, least recently used first out. */
const MAX_KNOWN_STREAMS = 2000;

function knownStates(store: EventStore, decider: object): Map<string, Known> {
  let byDecider = known.get(store);
  if (!byDecider) known.set(store, (byDecider = new WeakMap<object, Map<string, Known>>()));
  let states = byDecider.get(decider);
  if (!states) byDecider.set(decider, (states = new Map<string, Known>()));
  return states;
}

function remember(states: Map<string, Known>, streamId: string, entry: Known): void {
  states.delete(streamId);
  states.set(streamId, entry);
  if (states.size > MAX_KNOWN_STREAMS) states.delete(states.keys().next().value!);
}

/**
 * A stream's current state and version. The container keeps the states it folded and reads only
 * the events appended since (a consistent read), so a long stream — a channel after thousands of
 * releases, a config of a thousand runtimes — costs what is new, not its whole history, on every
 * command, push and report. Deciders are pure and states immutable, which makes keeping them safe.
 */
export async function readState<Command, State, Event extends DomainEvent>(
  store: EventStore,
  decider: Pick<Decider<Command, State, Event>, "initialState" | "evolve">,
  streamId: string,
): Promise<{ state: State; version: number }> {
  const states = knownStates(store, decider);
  const before = states.get(streamId);
  const newer = await store.read(streamId, (before?.version ?? 0) + 1);
  const state = newer.reduce(
    (s, e) => decider.evolve(s, e),
    (before?.state as State | undefined) ?? decider.initialState(),
  );
  const version = newer.at(-1)?.version ?? before?.version ?? 0;
  remember(states, streamId, { version, state });
  return { state, version };
}

/**
 * The state this container last folded for a stream, without reading what was appended since:
 * only for facts that never change once true (an instruction was dispatched), never for decisions.
 */
export function knownState<State>(
  store: EventStore,
  decider: Pick<Decider<unknown, State, DomainEvent>, "initialState" | "evolve">,
  streamId: string,
): State | undefined {
  return knownStates(store, decider).get(streamId)?.state as State | undefined;
}

/**
 * Runs one command against one stream: read, fold, decide, append at the version read. A conflict
 * means someone else appended in between; the command is decided again on the fresh state, which
 * is safe because deciding is pure. DomainErrors from `decide` reach the caller unchanged.
 */
export async function handleCommand<Command, State, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<Command, State, Event>,
  streamId: string,
  command: Command,
  metadata: Metadata,
  options: AppendOptions & { maxAttempts?: number } = {},
): Promise<HandleResult<State>> {
  const { maxAttempts = 12, ...append } = options;
  for (let attempt = 1; ; attempt++) {
    const { state, version } = await readState(store, decider, streamId);
    const decided = decider.decide(command, state);
    if (decided.length === 0) return { state, events: [], version };
    try {
      const appended = await store.append(streamId, version, decided, metadata, append);
      if (appended.duplicate) return { state, events: appended.events, version: appended.version, duplicate: true };
      let next = state;
      for (const e of appended.events) next = decider.evolve(next, e);
      remember(knownStates(store, decider), streamId, { version: appended.version, state: next });
      return { state: next, events: appended.events, version: appended.version };
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= maxAttempts) throw err;
      // Back off exponentially with full jitter, so racing writers spread out instead of colliding again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(250, 5 * 2 ** attempt)));
    }
  }
}
