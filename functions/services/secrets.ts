import { secretsDecider, streams } from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import type { SecretInfo } from "../adapters/secret-store.js";
import { handleCommand } from "./commands.js";
import type { ApiDeps } from "./deps.js";

/**
 * Named secrets: the value goes to the secret store, the fact that it was set to the log. A value
 * is never answered, logged or recorded; a set whose append fails after its value was stored is
 * simply set again.
 */

export async function setSecret(deps: ApiDeps, name: string, value: string, meta: Metadata): Promise<SecretInfo> {
  const info = { updatedAt: meta.occurredAt, updatedBy: meta.actor.id };
  await deps.secretStore.put(name, value, info);
  await handleCommand(deps.store, secretsDecider, streams.secrets(), { type: "SetSecret", name }, meta);
  return { name, ...info };
}

export async function deleteSecret(deps: ApiDeps, name: string, meta: Metadata): Promise<void> {
  await handleCommand(deps.store, secretsDecider, streams.secrets(), { type: "DeleteSecret", name }, meta);
  await deps.secretStore.delete(name);
}

export async function listSecrets(deps: ApiDeps): Promise<SecretInfo[]> {
  return (await deps.secretStore.list()).sort((a, b) => a.name.localeCompare(b.name));
}
