import { stringify } from "yaml";
import {
  canonicalJson,
  parseDocuments,
  specDocument,
  validateConfigSet,
  type Application,
  type ConfigObject,
  type Runtime,
  type Service,
} from "../core/index.js";
import type { ApplyResult, ConfigKind, StoredObject } from "./api-types.js";
import { issueLine, sourceLabel, type FileIssue, type SourceDocument } from "./config-files.js";
import { shortDiff } from "./diff.js";

/**
 * What `apply` does to each object: created, changed (with a short diff of its YAML) or unchanged,
 * judged against what the server holds — the same comparison the server makes, on the spec with
 * its defaults filled in, so a dry run says what a real apply would.
 */

export type Outcome = "created" | "changed" | "unchanged";
export type PlannedObject = {
  kind: ConfigKind;
  name: string;
  file: string;
  result: Outcome;
  /** The object's version after the apply; absent in a dry run. */
  version?: number;
  diff?: string[];
};

export type LocalObject = { source: SourceDocument; object: ConfigObject; spec: Record<string, unknown> };

/** The objects the documents define, each with its spec as the server stores it. */
export function localObjects(sources: readonly SourceDocument[]): { objects: LocalObject[]; issues: FileIssue[] } {
  const objects: LocalObject[] = [];
  const issues: FileIssue[] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const parsed = parseDocuments([source.document]);
    if (!parsed.ok) {
      issues.push(...parsed.issues.map((i) => ({ file: sourceLabel(source), message: issueLine(i) })));
      continue;
    }
    const object = parsed.objects[0]!;
    const key = `${object.kind}/${object.name}`;
    const first = seen.get(key);
    if (first) {
      issues.push({
        file: sourceLabel(source),
        message: `${object.kind} "${object.name}" is also defined in ${first}`,
      });
      continue;
    }
    seen.set(key, sourceLabel(source));
    objects.push({ source, object, spec: specDocument(object) });
  }
  return { objects, issues };
}

const yamlOf = (spec: unknown) => stringify(spec, { sortMapEntries: true, lineWidth: 0 }).trimEnd();

/** Created, changed (with the diff) or unchanged, against the stored object. */
export function plan(local: LocalObject, stored: StoredObject | undefined): PlannedObject {
  const base = { kind: local.object.kind, name: local.object.name, file: sourceLabel(local.source) };
  if (!stored) return { ...base, result: "created" };
  if (canonicalJson(stored.spec) === canonicalJson(local.spec)) return { ...base, result: "unchanged" };
  return { ...base, result: "changed", diff: shortDiff(yamlOf(stored.spec), yamlOf(local.spec)) };
}

/** The plan, with the versions and the verdict of the server's answer to the apply. */
export function withAnswer(planned: PlannedObject, answer: ApplyResult): PlannedObject {
  const same = (o: { kind: string; name: string }) => o.kind === planned.kind && o.name === planned.name;
  const { kind, name, file } = planned;
  const applied = answer.applied.find(same);
  if (applied)
    return {
      kind,
      name,
      file,
      result: planned.result === "unchanged" ? "changed" : planned.result,
      version: applied.version,
      ...(planned.diff ? { diff: planned.diff } : {}),
    };
  const unchanged = answer.unchanged.find(same);
  return { kind, name, file, result: "unchanged", ...(unchanged ? { version: unchanged.version } : {}) };
}

/**
 * For a dry run: the checks across objects the server would make, against everything it holds
 * with these documents applied on top. Problems in stored objects are named `kind:name`.
 */
export function crossCheck(locals: readonly LocalObject[], stored: readonly StoredObject[]): FileIssue[] {
  const objects = new Map<string, ConfigObject>();
  for (const s of stored) {
    const parsed = parseDocuments([{ [s.kind]: s.spec }]);
    if (parsed.ok) objects.set(`${s.kind}/${s.name}`, parsed.objects[0]!);
  }
  const mine = new Map<string, number>();
  locals.forEach((l, i) => {
    objects.set(`${l.object.kind}/${l.object.name}`, l.object);
    mine.set(`${l.object.kind}/${l.object.name}`, i);
  });
  const set = {
    runtimes: new Map<string, Runtime>(),
    applications: new Map<string, Application>(),
    services: new Map<string, Service>(),
  };
  for (const o of objects.values()) {
    if (o.kind === "runtime") set.runtimes.set(o.name, o.spec);
    else if (o.kind === "application") set.applications.set(o.name, o.spec);
    else set.services.set(o.name, o.spec);
  }
  // A marker the path starts with for a document of this apply, replaced by its file below.
  const marker = (i: number) => `@@${i}@@`;
  const issues = validateConfigSet(set, (kind, name) => {
    const i = mine.get(`${kind}/${name}`);
    return i === undefined ? `${kind}:${name}` : `${marker(i)}${kind}`;
  });
  return issues.map((issue) => {
    const m = /^@@(\d+)@@/.exec(issue.path);
    if (!m) return { file: "(stored config)", message: issueLine(issue) };
    const path = issue.path.slice(m[0].length);
    return { file: sourceLabel(locals[Number(m[1])]!.source), message: issueLine({ path, message: issue.message }) };
  });
}

/**
 * The server's config errors, named by file: it numbers documents `documents[i]` in the order they
 * were sent (and not at all when only one was).
 */
export function serverIssues(
  errors: readonly { path: string; message: string }[],
  sent: readonly LocalObject[],
): FileIssue[] {
  return errors.map((e) => {
    const m = /^documents\[(\d+)\]\.?/.exec(e.path);
    const index = m ? Number(m[1]) : sent.length === 1 && !/^\w+:/.test(e.path) ? 0 : undefined;
    const local = index === undefined ? undefined : sent[index];
    if (!local) return { file: "(stored config)", message: issueLine(e) };
    const strip = (s: string) => (m ? s.split(m[0]).join("") : s);
    return { file: sourceLabel(local.source), message: issueLine({ path: strip(e.path), message: strip(e.message) }) };
  });
}
