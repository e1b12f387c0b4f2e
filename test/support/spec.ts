import { expect } from "vitest";
import { DomainError, fold, type Decider } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";

/**
 * Decider tests read as specifications: given these events, when this command, then these events
 * (or this error, or nothing).
 */
export function specFor<Command, State, Event extends DomainEvent>(decider: Decider<Command, State, Event>) {
  return (given: Event[]) => ({
    when: (command: Command) => {
      const run = () => decider.decide(command, fold(decider, given));
      return {
        then: (expected: Event[]) => expect(run()).toEqual(expected),
        thenNothing: () => expect(run()).toEqual([]),
        thenError: (code: string, status?: number) => {
          let caught: unknown;
          try {
            run();
          } catch (err) {
            caught = err;
          }
          expect(caught, `expected ${code}`).toBeInstanceOf(DomainError);
          expect((caught as DomainError).code).toBe(code);
          if (status !== undefined) expect((caught as DomainError).status).toBe(status);
          return caught as DomainError;
        },
        state: () => {
          const state = fold(decider, given);
          const events = decider.decide(command, state);
          return events.reduce(decider.evolve, state);
        },
      };
    },
  });
}

/** The DomainError a run throws; fails when it throws nothing, and rethrows any other error. */
export function refusal(run: () => unknown): DomainError {
  try {
    run();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a DomainError");
}
