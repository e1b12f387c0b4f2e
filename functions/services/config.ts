import {
  configDecider,
  getConfig,
  listConfigs,
  streams,
  type ConfigKind,
  type ConfigState,
  type Runtime,
} from "../../core/index.js";
import type { Metadata } from "../../events/index.js";
import type { EventStore } from "../adapters/event-store.js";
import { handleCommand, readState } from "./commands.js";

/** The config use cases: apply and delete documents, and the current config everything else reads. */

type ObjectRef = { kind: ConfigKind; name: string; version: number };

/** The current config (read incrementally; see readState). */
export async function readConfig(deps: { store: EventStore }): Promise<ConfigState> {
  return (await readState(deps.store, configDecider, streams.config())).state;
}

export function runtimesOf(config: ConfigState): Map<string, Runtime> {
  return new Map(listConfigs(config, "runtime").map((r) => [r.name, r.spec]));
}

/** The runtime whose agent carries out a runtime's instructions: itself, or an extension's proxy. */
export function agentRuntimeOf(config: ConfigState, runtime: string): string {
  return getConfig(config, "runtime", runtime)?.spec.extension?.proxyRuntime.runtime ?? runtime;
}

/**
 * Applies config documents as a whole. Returns what changed and which of the documents' objects
 * were already as given (applying an unchanged document changes nothing).
 */
export async function applyConfig(
  deps: { store: EventStore },
  documents: unknown[],
  meta: Metadata,
): Promise<{ applied: ObjectRef[]; unchanged: ObjectRef[] }> {
  const result = await handleCommand(
    deps.store,
    configDecider,
    streams.config(),
    { type: "ApplyConfig", documents },
    meta,
  );
  const applied = result.events.flatMap((e) =>
    e.type === "ConfigApplied" ? [{ kind: e.data.kind, name: e.data.name, version: e.data.version }] : [],
  );
  const appliedKeys = new Set(applied.map((a) => `${a.kind}/${a.name}`));
  const unchanged = Object.values(result.state.objects)
    .filter((o) => !appliedKeys.has(`${o.kind}/${o.name}`) && documents.some((d) => isDocumentFor(d, o.kind, o.name)))
    .map((o) => ({ kind: o.kind, name: o.name, version: o.version }));
  return { applied, unchanged };
}

export async function deleteConfig(
  deps: { store: EventStore },
  kind: ConfigKind,
  name: string,
  meta: Metadata,
): Promise<ObjectRef> {
  const result = await handleCommand(
    deps.store,
    configDecider,
    streams.config(),
    { type: "DeleteConfig", kind, name },
    meta,
  );
  const deleted = result.events.find((e) => e.type === "ConfigDeleted");
  return { kind, name, version: deleted?.type === "ConfigDeleted" ? deleted.data.version : 0 };
}

function isDocumentFor(doc: unknown, kind: ConfigKind, name: string): boolean {
  const body = (doc as Record<string, { name?: unknown } | undefined> | null)?.[kind];
  return body?.name === name;
}
