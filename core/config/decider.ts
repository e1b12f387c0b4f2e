import type { DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { conflict, invalid, notFound } from "../errors.js";
import { Application, Runtime, Service, specDocument, type ConfigObject } from "./schema.js";
import { parseDocuments, validateConfigSet, type ConfigSet } from "./validate.js";

/**
 * All configuration lives in one stream (`config`): references between objects (a channel names a
 * runtime, a service its application) are checked against the whole set, and one stream makes that
 * check and the write a single optimistic-concurrency step. Config changes are rare; contention is not
 * a concern here.
 */

export type ConfigKind = ConfigObject["kind"];
export type StoredConfig<K extends ConfigKind = ConfigKind> = Extract<ConfigObject, { kind: K }> & { version: number };

export type ConfigState = {
  objects: Readonly<Record<string, StoredConfig>>;
  /**
   * Every version every object has had, deleted ones included, by object and version: releases
   * render from the versions they pinned, so those stay readable. Config changes are rare and
   * specs small, so the whole history costs little next to the current objects; keeping it in the
   * state makes reading a pinned version a lookup rather than a read of the log.
   */
  versions: Readonly<Record<string, Readonly<Record<number, StoredConfig>>>>;
};

export type ConfigCommand =
  { type: "ApplyConfig"; documents: unknown[] } | { type: "DeleteConfig"; kind: ConfigKind; name: string };

type ConfigEvent = EventOf<"ConfigApplied"> | EventOf<"ConfigDeleted">;

const key = (kind: ConfigKind, name: string) => `${kind}/${name}`;
const specSchemas = { runtime: Runtime, application: Application, service: Service } as const;

export function getConfig<K extends ConfigKind>(
  state: ConfigState,
  kind: K,
  name: string,
): StoredConfig<K> | undefined {
  return state.objects[key(kind, name)] as StoredConfig<K> | undefined;
}

/** One version of an object as it was applied, even if it has changed or been deleted since. */
export function getConfigVersion<K extends ConfigKind>(
  state: ConfigState,
  kind: K,
  name: string,
  version: number,
): StoredConfig<K> | undefined {
  return state.versions[key(kind, name)]?.[version] as StoredConfig<K> | undefined;
}

/**
 * Versions are never reused, not even by an object deleted and applied again: a release pins a
 * spec by its version. A deletion takes the version after the object's last one.
 */
function nextVersion(state: ConfigState, current: StoredConfig | undefined, kind: ConfigKind, name: string): number {
  if (current) return current.version + 1;
  const last = Math.max(0, ...Object.keys(state.versions[key(kind, name)] ?? {}).map(Number));
  return last === 0 ? 1 : last + 2;
}

export function listConfigs<K extends ConfigKind>(state: ConfigState, kind: K): StoredConfig<K>[] {
  return Object.values(state.objects).filter((o): o is StoredConfig<K> => o.kind === kind);
}

function setOf(objects: Iterable<ConfigObject>): ConfigSet {
  const set = {
    runtimes: new Map<string, Runtime>(),
    applications: new Map<string, Application>(),
    services: new Map<string, Service>(),
  };
  for (const o of objects) {
    if (o.kind === "runtime") set.runtimes.set(o.name, o.spec);
    else if (o.kind === "application") set.applications.set(o.name, o.spec);
    else set.services.set(o.name, o.spec);
  }
  return set;
}

/** JSON with sorted keys: two specs are the same config exactly when these strings are equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function decide(command: ConfigCommand, state: ConfigState): ConfigEvent[] {
  switch (command.type) {
    case "ApplyConfig": {
      if (command.documents.length === 0) throw invalid("config.empty", "no config documents were given");
      const parsed = parseDocuments(command.documents);
      if (!parsed.ok) throw invalid("config.invalid", describeIssues(parsed.issues.length), parsed.issues);
      const incoming = new Map(parsed.objects.map((o, i) => [key(o.kind, o.name), { object: o, index: i }]));
      const merged = { ...state.objects, ...Object.fromEntries([...incoming].map(([k, v]) => [k, v.object])) };
      const multi = command.documents.length > 1;
      const issues = validateConfigSet(setOf(Object.values(merged)), (kind, name) => {
        const mine = incoming.get(key(kind, name));
        if (!mine) return `${kind}:${name}`;
        return multi ? `documents[${mine.index}].${kind}` : kind;
      });
      if (issues.length) throw invalid("config.invalid", describeIssues(issues.length), issues);
      return parsed.objects.flatMap((o) => {
        const current = getConfig(state, o.kind, o.name);
        if (current && canonicalJson(current.spec) === canonicalJson(o.spec)) return [];
        return [
          event("ConfigApplied", {
            kind: o.kind,
            name: o.name,
            version: nextVersion(state, current, o.kind, o.name),
            spec: specDocument(o),
          }),
        ];
      });
    }
    case "DeleteConfig": {
      const current = getConfig(state, command.kind, command.name);
      if (!current) throw notFound("config.not_found", `${command.kind} "${command.name}" does not exist`);
      const rest = Object.values(state.objects).filter((o) => !(o.kind === command.kind && o.name === command.name));
      const issues = validateConfigSet(setOf(rest), (kind, name) => `${kind}:${name}`);
      if (issues.length) {
        throw conflict(
          "config.in_use",
          `${command.kind} "${command.name}" is still referenced: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        );
      }
      return [event("ConfigDeleted", { kind: command.kind, name: command.name, version: current.version + 1 })];
    }
  }
}

function describeIssues(count: number): string {
  return count === 1 ? "the config has 1 error" : `the config has ${count} errors`;
}

function evolve(state: ConfigState, e: DomainEvent): ConfigState {
  switch (e.type) {
    case "ConfigApplied": {
      const spec = specSchemas[e.data.kind].parse(e.data.spec);
      const stored = { kind: e.data.kind, name: e.data.name, spec, version: e.data.version } as StoredConfig;
      const k = key(e.data.kind, e.data.name);
      return {
        objects: { ...state.objects, [k]: stored },
        versions: { ...state.versions, [k]: { ...state.versions[k], [e.data.version]: stored } },
      };
    }
    case "ConfigDeleted": {
      const { [key(e.data.kind, e.data.name)]: _gone, ...objects } = state.objects;
      return { ...state, objects };
    }
    default:
      return state;
  }
}

export const configDecider: Decider<ConfigCommand, ConfigState, ConfigEvent> = {
  initialState: () => ({ objects: {}, versions: {} }),
  evolve,
  decide,
};
