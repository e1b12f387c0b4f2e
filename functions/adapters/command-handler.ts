import { fold, type Decider } from "../../core/index.js";
import type { DomainEvent, Metadata, StoredEvent } from "../../events/index.js";
import { ConcurrencyError, type EventStore } from "./event-store.js";

export type HandleResult<State> = {
  state: State;
  /** The events this command appended (or, for a retried command id, appended the first time). */
  events: StoredEvent[];
  version: number;
};

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
  options: { commandId?: string; maxAttempts?: number } = {},
): Promise<HandleResult<State>> {
  const maxAttempts = options.maxAttempts ?? 12;
  for (let attempt = 1; ; attempt++) {
    const history = await store.read(streamId);
    const state = fold(decider, history as unknown as Event[]);
    const version = history.at(-1)?.version ?? 0;
    const decided = decider.decide(command, state);
    if (decided.length === 0) return { state, events: [], version };
    try {
      const appended = await store.append(streamId, version, decided, metadata, options.commandId ? { commandId: options.commandId } : {});
      if (appended.duplicate) return { state, events: appended.events, version: appended.version };
      let next = state;
      for (const e of appended.events) next = decider.evolve(next, e as unknown as Event);
      return { state: next, events: appended.events, version: appended.version };
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= maxAttempts) throw err;
      // Back off exponentially with full jitter, so racing writers spread out instead of colliding again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(250, 5 * 2 ** attempt)));
    }
  }
}
