import type { DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { notFound } from "../errors.js";

/**
 * Named secrets (stream `secrets`): which names are set. The values are kept outside the log
 * (functions/adapters/secret-store.ts); the log says who set or deleted which name, and when.
 */

export type SecretsState = { names: ReadonlySet<string> };
export type SecretsCommand = { type: "SetSecret"; name: string } | { type: "DeleteSecret"; name: string };
type SecretsEvent = EventOf<"SecretSet"> | EventOf<"SecretDeleted">;

function decide(command: SecretsCommand, state: SecretsState): SecretsEvent[] {
  switch (command.type) {
    case "SetSecret":
      // Every set is recorded, the same value again included: the log says who touched a secret when.
      return [event("SecretSet", { name: command.name })];
    case "DeleteSecret":
      if (!state.names.has(command.name)) throw notFound("secret.not_found", `no secret is named ${command.name}`);
      return [event("SecretDeleted", { name: command.name })];
  }
}

function evolve(state: SecretsState, e: DomainEvent): SecretsState {
  switch (e.type) {
    case "SecretSet":
      return { names: new Set([...state.names, e.data.name]) };
    case "SecretDeleted":
      return { names: new Set([...state.names].filter((n) => n !== e.data.name)) };
    default:
      return state;
  }
}

export const secretsDecider: Decider<SecretsCommand, SecretsState, SecretsEvent> = {
  initialState: () => ({ names: new Set() }),
  evolve,
  decide,
};
