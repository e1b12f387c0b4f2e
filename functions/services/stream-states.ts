import { releaseDecider, type ReleaseState } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import type { EventStore } from "../adapters/event-store.js";

/** How a projection folds a stream: the state before any event, and the state after each. */
export type Evolver<S> = { initialState: () => S; evolve: (state: S, e: StoredEvent) => S };

/**
 * The states of streams this container last projected, each *as of* the event projected (and as
 * of the event before it) — which is why this is not readState's cache of latest states. Stream
 * records of one item arrive in order, so the next event of a stream usually continues from here
 * without reading the stream again; after a gap (another container, a restart) the state is read
 * from the log. Bounded, least recently used.
 */
export class StatesAt<S> {
  private readonly states = new Map<string, { version: number; before: S; state: S }>();
  constructor(
    private readonly evolver: Evolver<S>,
    private readonly max = 1000,
  ) {}

  async at(store: EventStore, e: StoredEvent): Promise<S> {
    return (await this.around(store, e)).after;
  }

  /** The stream's state just before `e` and just after it. */
  async around(store: EventStore, e: StoredEvent): Promise<{ before: S; after: S }> {
    const known = this.states.get(e.streamId);
    this.states.delete(e.streamId);
    let entry: { version: number; before: S; state: S };
    if (known && known.version === e.version - 1)
      entry = { version: e.version, before: known.state, state: this.evolver.evolve(known.state, e) };
    else if (known?.version === e.version) entry = known;
    else if (e.version === 1) {
      // A stream's first event: there is nothing before it to read.
      const before = this.evolver.initialState();
      entry = { version: 1, before, state: this.evolver.evolve(before, e) };
    } else {
      const events = await store.read(e.streamId, 1, e.version);
      const before = events.slice(0, -1).reduce(this.evolver.evolve, this.evolver.initialState());
      entry = { version: e.version, before, state: this.evolver.evolve(before, events.at(-1) ?? e) };
    }
    this.states.set(e.streamId, entry);
    if (this.states.size > this.max) this.states.delete(this.states.keys().next().value!);
    return { before: entry.before, after: entry.state };
  }
}

/** A release's state with when it was created, which its decider does not keep. */
export type ReleaseAt = { release: ReleaseState; createdAt?: string };

export class ReleaseStates extends StatesAt<ReleaseAt> {
  constructor(max = 1000) {
    super(
      {
        initialState: () => ({ release: releaseDecider.initialState() }),
        evolve: (s, e) => ({
          release: releaseDecider.evolve(s.release, e),
          createdAt: e.type === "ReleaseCreated" ? e.occurredAt : s.createdAt,
        }),
      },
      max,
    );
  }
}
