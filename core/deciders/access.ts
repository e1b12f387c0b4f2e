import type { DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { conflict, notFound } from "../errors.js";

/**
 * API keys (stream `apikeys`). A key carries scopes: `admin` (configs, runtimes, keys, operator
 * commands — and everything else), `release` (create releases), `approve` (decide approvals),
 * `read` (look). Only the SHA-256 of a key is recorded.
 */

export const SCOPES = ["admin", "release", "approve", "read"] as const;
export type Scope = (typeof SCOPES)[number];

export type ApiKey = { keyId: string; name: string; scopes: Scope[]; keyHash: string; revoked: boolean };
export type AccessState = { keys: Readonly<Record<string, ApiKey>> };

export type AccessCommand =
  | { type: "IssueApiKey"; keyId: string; name: string; scopes: Scope[]; keyHash: string }
  | { type: "RevokeApiKey"; keyId: string };

type AccessEvent = EventOf<"ApiKeyIssued"> | EventOf<"ApiKeyRevoked">;

export function grants(scopes: readonly Scope[], wanted: Scope): boolean {
  return scopes.includes("admin") || scopes.includes(wanted);
}

function decide(command: AccessCommand, state: AccessState): AccessEvent[] {
  switch (command.type) {
    case "IssueApiKey": {
      if (state.keys[command.keyId]) throw conflict("apikey.exists", `API key ${command.keyId} already exists`);
      if (Object.values(state.keys).some((k) => !k.revoked && k.name === command.name))
        throw conflict(
          "apikey.name_taken",
          `an active API key is already named "${command.name}"; revoke it first or choose another name`,
        );
      const { keyId, name, scopes, keyHash } = command;
      return [event("ApiKeyIssued", { keyId, name, scopes: [...new Set(scopes)], keyHash })];
    }
    case "RevokeApiKey": {
      const key = state.keys[command.keyId];
      if (!key) throw notFound("apikey.not_found", `API key ${command.keyId} does not exist`);
      return key.revoked ? [] : [event("ApiKeyRevoked", { keyId: command.keyId })];
    }
  }
}

function evolve(state: AccessState, e: DomainEvent): AccessState {
  switch (e.type) {
    case "ApiKeyIssued":
      return { keys: { ...state.keys, [e.data.keyId]: { ...e.data, revoked: false } } };
    case "ApiKeyRevoked": {
      const key = state.keys[e.data.keyId];
      return key ? { keys: { ...state.keys, [e.data.keyId]: { ...key, revoked: true } } } : state;
    }
    default:
      return state;
  }
}

export const accessDecider: Decider<AccessCommand, AccessState, AccessEvent> = {
  initialState: () => ({ keys: {} }),
  evolve,
  decide,
};
