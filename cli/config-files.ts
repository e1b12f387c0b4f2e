import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, resolve } from "node:path";
import { isMap, isScalar, parseAllDocuments } from "yaml";

/**
 * Reading config files for `apply`: files and folders (read recursively, so a repository's
 * `applications/<app>/services/<svc>/` layout applies as it is), and the one piece of syntax only
 * the CLI understands — `kubernetesConfig: {local: {path: .}}`, manifests kept as plain files next
 * to the service, which the CLI reads and sends inline so the server never touches a file.
 */

export const CONFIG_KINDS = ["runtime", "application", "service"] as const;

/** One config document and where it came from. */
export type SourceDocument = { file: string; index: number; of: number; document: Record<string, unknown> };
/** A problem with a file, naming the field where there is one. */
export type FileIssue = { file: string; message: string };

export type ReadResult = { documents: SourceDocument[]; issues: FileIssue[]; skipped: { file: string; why: string }[] };

/** `runtimes.yaml`, or `runtimes.yaml (document 2)` for the second document of a file of several. */
export const sourceLabel = (d: Pick<SourceDocument, "file" | "index" | "of">) =>
  d.of > 1 ? `${d.file} (document ${d.index + 1})` : d.file;

type Parsed = { ok: true; documents: unknown[] } | { ok: false; messages: string[] };

function parseText(text: string): Parsed {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const messages = list.flatMap((doc) =>
    doc.errors.map(
      (e) =>
        `line ${e.linePos?.[0].line ?? "?"}, column ${e.linePos?.[0].col ?? "?"}: ${e.message.split("\n")[0]!.replace(/( at line \d+, column \d+)?:?$/, "")}`,
    ),
  );
  if (messages.length) return { ok: false, messages };
  const documents = list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
  // A JSON file may hold an array of documents, as `PUT /v1/configs` takes them.
  return { ok: true, documents: documents.length === 1 && Array.isArray(documents[0]) ? documents[0] : documents };
}

export type FileKind = "config" | "kubernetes" | "other";

/**
 * A Slipway config file is one whose first document has a single top-level key, `runtime`,
 * `application` or `service`; a Kubernetes manifest's has `apiVersion` and `kind`. A file that
 * does not parse is judged by its top-level keys as written, so a broken config file is still
 * reported as one rather than passed over.
 */
export function classify(text: string): FileKind {
  // The syntax tree, not toJS(): manifests are templates (`replicas: {{.Constants.replicas}}`),
  // which YAML reads as odd mapping keys that toJS() warns about.
  const docs = parseAllDocuments(text);
  const first = (Array.isArray(docs) ? docs : []).find((d) => d.contents !== null);
  let keys: string[];
  if (first && !first.errors.length && isMap(first.contents)) {
    keys = first.contents.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : ""));
  } else {
    const firstDocument = text.split(/^---/m).find((part) => /^[A-Za-z_"]/m.test(part)) ?? "";
    keys = [...firstDocument.matchAll(/^"?([A-Za-z_][\w.-]*)"?\s*:/gm)].map((m) => m[1]!);
  }
  if (keys.length === 1 && (CONFIG_KINDS as readonly string[]).includes(keys[0]!)) return "config";
  if (keys.includes("apiVersion") && keys.includes("kind")) return "kubernetes";
  return "other";
}

const isYaml = (name: string) => [".yaml", ".yml"].includes(extname(name).toLowerCase());

/** Every YAML file under `dir`, in a stable order; hidden folders and node_modules are left out. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name.startsWith(".") || entry.name === "node_modules" ? [] : walk(path);
      return entry.isFile() && isYaml(entry.name) ? [path] : [];
    });
}

/**
 * Reads the documents of `paths` (files, folders, or `-` for standard input) and resolves their
 * local manifests, naming the file (and the field) of every problem.
 */
export function readConfigSources(
  paths: readonly string[],
  stdin: () => string = () => readFileSync(0, "utf8"),
): ReadResult {
  const result: ReadResult = { documents: [], issues: [], skipped: [] };
  const cwd = process.cwd();
  const label = (path: string) => relative(cwd, path) || path;
  const files: { path: string; explicit: boolean }[] = [];
  for (const path of paths) {
    if (path === "-") {
      files.push({ path: "-", explicit: true });
      continue;
    }
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      result.issues.push({ file: path, message: "no such file or folder" });
      continue;
    }
    if (isDirectory) files.push(...walk(path).map((p) => ({ path: p, explicit: false })));
    else files.push({ path, explicit: true });
  }
  for (const { path, explicit } of files) {
    const file = path === "-" ? "<stdin>" : label(path);
    const text = path === "-" ? stdin() : readFileSync(path, "utf8");
    if (!explicit) {
      const kind = classify(text);
      if (kind === "kubernetes") continue;
      if (kind === "other") {
        result.skipped.push({ file, why: "not a Slipway config file (runtime:, application: or service:)" });
        continue;
      }
    }
    const parsed = parseText(text);
    if (!parsed.ok) {
      result.issues.push(...parsed.messages.map((message) => ({ file, message: `not valid YAML: ${message}` })));
      continue;
    }
    if (parsed.documents.length === 0) {
      result.issues.push({ file, message: "holds no config document" });
      continue;
    }
    const base = path === "-" ? cwd : dirname(resolve(path));
    parsed.documents.forEach((document, index) => {
      const source = { file, index, of: parsed.documents.length };
      const where = sourceLabel(source);
      if (!document || typeof document !== "object" || Array.isArray(document)) {
        result.issues.push({
          file: where,
          message: "the document must be a mapping with one key: runtime, application or service",
        });
        return;
      }
      const resolved = resolveLocalManifests(document as Record<string, unknown>, base);
      if (!resolved.ok) {
        result.issues.push(...resolved.messages.map((message) => ({ file: where, message })));
        return;
      }
      result.documents.push({ ...source, document: resolved.document });
    });
  }
  return result;
}

/** `path: message`, unless the message already names the path (as the config's sentences do). */
export function issueLine(issue: { path: string; message: string }): string {
  return issue.path && !issue.message.includes(issue.path) ? `${issue.path}: ${issue.message}` : issue.message;
}

/** Where a document may hold `kubernetesConfig`, with the path its errors are named by. */
const KUBERNETES_CONFIGS: { path: string[]; name: string }[] = [
  { path: ["service", "kubernetesConfig"], name: "service.kubernetesConfig" },
  { path: ["runtime", "extension", "apply", "kubernetesConfig"], name: "runtime.extension.apply.kubernetesConfig" },
];

type Resolved = { ok: true; document: Record<string, unknown> } | { ok: false; messages: string[] };

/**
 * Replaces `kubernetesConfig: {local: {path}}` with `kubernetesConfig: {manifests: [...]}`: the text
 * of the file at `path`, or of every `.yaml`/`.yml` file directly in the folder at `path` (in name
 * order) that is not a Slipway config file. `path` is relative to the file that names it. Templates
 * in the manifests are left for the server to render.
 */
export function resolveLocalManifests(document: Record<string, unknown>, base: string): Resolved {
  const messages: string[] = [];
  let out = document;
  for (const { path, name } of KUBERNETES_CONFIGS) {
    const config = at(document, path);
    if (!config || typeof config !== "object" || !("local" in config)) continue;
    const { local, ...rest } = config as { local: unknown } & Record<string, unknown>;
    if ("manifests" in rest) {
      messages.push(`${name}: give either manifests or local, not both`);
      continue;
    }
    const localPath =
      local && typeof local === "object" && !Array.isArray(local) ? (local as Record<string, unknown>).path : undefined;
    const extra = local && typeof local === "object" ? Object.keys(local).filter((k) => k !== "path") : [];
    if (typeof localPath !== "string" || localPath === "") {
      messages.push(`${name}.local.path is required: the file or folder of the manifests, relative to this file`);
      continue;
    }
    if (extra.length) {
      messages.push(`${name}.local.${extra[0]} is not a known field`);
      continue;
    }
    const manifests = readManifests(resolve(base, localPath));
    if (typeof manifests === "string") {
      messages.push(`${name}.local.path: "${localPath}" ${manifests}`);
      continue;
    }
    out = withAt(out, path, { ...rest, manifests });
  }
  return messages.length ? { ok: false, messages } : { ok: true, document: out };
}

/** The manifests at `path`, or why there are none. */
function readManifests(path: string): string[] | string {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return "does not exist";
  }
  if (!isDirectory) return [readFileSync(path, "utf8")];
  const texts = readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isFile() && isYaml(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => readFileSync(join(path, name), "utf8"))
    .filter((text) => classify(text) !== "config");
  return texts.length ? texts : "holds no Kubernetes manifests (.yaml or .yml files other than Slipway config files)";
}

function at(value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>(
    (v, key) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined),
    value,
  );
}

function withAt(
  value: Record<string, unknown>,
  path: readonly string[],
  replacement: unknown,
): Record<string, unknown> {
  const [key, ...rest] = path;
  if (key === undefined) return value;
  return {
    ...value,
    [key]: rest.length ? withAt(value[key] as Record<string, unknown>, rest, replacement) : replacement,
  };
}
