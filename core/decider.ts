import type { DomainEvent } from "../events/index.js";

/**
 * A decider owns one consistency boundary (one event stream): `decide` turns a command and the
 * current state into new events of the decider's own types, or throws a DomainError; `evolve`
 * folds an event into the state. Both are pure; time, ids and anything read from elsewhere arrive
 * inside the command.
 *
 * `evolve` takes any domain event, not only the decider's own: a stream is read back as domain
 * events of every type, and those the decider does not own leave its state as it is. Callers hand
 * over what they read, without casting it to the decider's types.
 */
export type Decider<Command, State, Event extends DomainEvent = DomainEvent> = {
  initialState: () => State;
  evolve: (state: State, event: DomainEvent) => State;
  decide: (command: Command, state: State) => Event[];
};

export function fold<State>(
  decider: Pick<Decider<unknown, State>, "initialState" | "evolve">,
  events: Iterable<DomainEvent>,
): State {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}

/** An event of one type with that type's data: the compiler rejects data of another type. */
export function event<T extends DomainEvent["type"]>(type: T, data: Extract<DomainEvent, { type: T }>["data"]) {
  return { type, data } as Extract<DomainEvent, { type: T }>;
}
