import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Cluster, Outcome } from "./kube.js";

/**
 * What the agent remembers across restarts: the outcome of every instruction it finished (so a
 * redelivered one is reported, never applied twice) and what it last applied per service (to
 * report on connect). Kept in a file — on the install YAML's PersistentVolumeClaim — or in a
 * ConfigMap the agent writes through the API server. Either way it is bounded (see `prune`).
 */

export type Finished = Outcome & { at: string };
export type Workload = { name: string; namespace?: string };
export type Running = Record<
  string,
  { service: string; runtime: string; releaseId: string; images: string[]; deployments: Workload[] }
>;
export type AgentState = { done: Record<string, Finished>; running: Running };

export interface StateStore {
  /** Where the state lives, for the log. */
  readonly where: string;
  load(): Promise<AgentState>;
  save(state: AgentState): Promise<void>;
}

/**
 * The bound: the newest MAX_FINISHED outcomes, each message cut to MAX_MESSAGE characters, within
 * MAX_BYTES in all (a ConfigMap holds at most 1 MiB). Slipway redelivers an instruction only until
 * the agent's report of it is recorded, which takes seconds; hundreds of newer ones is far beyond that.
 */
export const MAX_FINISHED = 500;
export const MAX_MESSAGE = 1000;
export const MAX_BYTES = 512 * 1024;

/** The state with its oldest outcomes dropped until it is within the bound; `running` is kept whole. */
export function prune(state: AgentState): AgentState {
  const entries = Object.entries(state.done)
    .map(([id, f]) => [id, { ...f, message: f.message.slice(-MAX_MESSAGE) }] as const)
    .sort(([, a], [, b]) => a.at.localeCompare(b.at));
  let kept = entries.slice(-MAX_FINISHED);
  const size = (done: typeof kept) => JSON.stringify({ done: Object.fromEntries(done), running: state.running }).length;
  while (kept.length && size(kept) > MAX_BYTES) kept = kept.slice(Math.ceil(kept.length / 10));
  return { done: Object.fromEntries(kept), running: state.running };
}

function parse(text: string | undefined): AgentState {
  if (!text) return { done: {}, running: {} };
  const saved = JSON.parse(text) as Partial<AgentState>;
  // Outcomes saved before they carried a time count as the oldest.
  const done = Object.fromEntries(
    Object.entries(saved.done ?? {}).map(([id, f]) => [id, { ...f, at: f.at ?? "1970-01-01T00:00:00.000Z" }]),
  );
  return { done, running: saved.running ?? {} };
}

/** A JSON file, replaced atomically (write, then rename) on every save. */
export class FileState implements StateStore {
  constructor(private readonly path: string) {}

  get where(): string {
    return this.path;
  }

  load(): Promise<AgentState> {
    return Promise.resolve(parse(existsSync(this.path) ? readFileSync(this.path, "utf8") : undefined));
  }

  save(state: AgentState): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(`${this.path}.tmp`, JSON.stringify(prune(state)), { mode: 0o600 });
    renameSync(`${this.path}.tmp`, this.path);
    return Promise.resolve();
  }
}

/**
 * One key of a ConfigMap in the agent's namespace, written by server-side apply. The install YAML
 * creates the ConfigMap, and the agent's Role may get and patch that one object only.
 */
export class ConfigMapState implements StateStore {
  static readonly KEY = "state.json";

  constructor(
    private readonly cluster: Cluster,
    private readonly name: string,
    private readonly namespace: string,
  ) {}

  get where(): string {
    return `configmap/${this.name} in ${this.namespace}`;
  }

  async load(): Promise<AgentState> {
    return parse(await this.cluster.configMapKey(this.name, this.namespace, ConfigMapState.KEY));
  }

  async save(state: AgentState): Promise<void> {
    await this.cluster.writeConfigMapKey(this.name, this.namespace, ConfigMapState.KEY, JSON.stringify(prune(state)));
  }
}
