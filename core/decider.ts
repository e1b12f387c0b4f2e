import type { DomainEvent } from "../events/index.js";

/**
 * A decider owns one consistency boundary (one event stream): `decide` turns a command and the
 * current state into new events, or throws a DomainError; `evolve` folds an event into the state.
 * Both are pure; time, ids and anything read from elsewhere arrive inside the command.
 */
export type Decider<Command, State, Event extends DomainEvent = DomainEvent> = {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Event[];
};

export function fold<State, Event extends DomainEvent>(
  decider: Pick<Decider<unknown, State, Event>, "initialState" | "evolve">,
  events: Iterable<Event>,
): State {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}

/** Events are facts of one of the decider's own types; others in the stream are ignored by evolve. */
export function event<T extends DomainEvent["type"]>(type: T, data: Extract<DomainEvent, { type: T }>["data"]) {
  return { type, data } as Extract<DomainEvent, { type: T }>;
}
