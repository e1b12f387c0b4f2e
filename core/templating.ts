import type { Issue } from "./errors.js";

/**
 * Templates in manifests, commands and parameter values, in the Go-template style users know:
 * `{{.Params.image}}`, `{{ .Constants.replicas }}`, `{{.Builtins.ReleaseChannel}}`, and
 * `{{"{{"}}` for a literal. Substitution is one pass over the source text, so a substituted value
 * is never read again as a template — a param holding `{{.Constants.x}}` stays that text.
 */

export type TemplateScope = "Params" | "Constants" | "Builtins";
export const BUILTINS = ["Application", "Service", "ReleaseChannel", "Release", "Runtime"] as const;
export type Builtin = (typeof BUILTINS)[number];

export type TemplateContext = {
  Params: Record<string, string | number | boolean>;
  Constants: Record<string, string | number | boolean>;
  Builtins: Partial<Record<Builtin, string>>;
};

export type Reference = { scope: TemplateScope; name: string };

const TAG = /\{\{(.*?)\}\}/gs;
const REFERENCE = /^\s*\.(Params|Constants|Builtins)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const LITERAL = /^\s*"((?:[^"\\]|\\.)*)"\s*$/;

type Piece = { text: string } | { ref: Reference; tag: string } | { error: string };

function* pieces(source: string): Generator<Piece> {
  let last = 0;
  for (const m of source.matchAll(TAG)) {
    const [tag, expr = ""] = m;
    if (m.index > last) yield { text: source.slice(last, m.index) };
    last = m.index + tag.length;
    const ref = REFERENCE.exec(expr);
    const literal = LITERAL.exec(expr);
    if (ref) yield { ref: { scope: ref[1] as TemplateScope, name: ref[2]! }, tag };
    else if (literal) yield { text: JSON.parse(`"${literal[1]}"`) as string };
    else
      yield {
        error: `unsupported template expression ${tag}: use {{.Params.name}}, {{.Constants.name}} or {{.Builtins.Name}}`,
      };
  }
  if (last < source.length) yield { text: source.slice(last) };
}

/** Every reference a template makes, and every expression it cannot understand. */
export function references(source: string): { refs: Reference[]; errors: string[] } {
  const refs: Reference[] = [];
  const errors: string[] = [];
  for (const p of pieces(source)) {
    if ("ref" in p) refs.push(p.ref);
    else if ("error" in p) errors.push(p.error);
  }
  return { refs, errors };
}

export type RenderResult = { ok: true; value: string } | { ok: false; issues: Issue[] };

/** Renders one template; `path` names where it came from in every issue it reports. */
export function render(source: string, context: TemplateContext, path: string): RenderResult {
  let out = "";
  const issues: Issue[] = [];
  for (const p of pieces(source)) {
    if ("text" in p) out += p.text;
    else if ("error" in p) issues.push({ path, message: p.error });
    else {
      const values = context[p.ref.scope] as Record<string, string | number | boolean | undefined>;
      const value = Object.hasOwn(values, p.ref.name) ? values[p.ref.name] : undefined;
      if (value === undefined)
        issues.push({ path, message: `${p.tag} refers to ${describe(p.ref)}, which has no value` });
      else out += String(value);
    }
  }
  return issues.length ? { ok: false, issues } : { ok: true, value: out };
}

function describe(ref: Reference): string {
  const what = { Params: "parameter", Constants: "constant", Builtins: "builtin" }[ref.scope];
  return `${what} "${ref.name}"`;
}

/**
 * Renders every string inside a JSON-like value (object manifests, command arrays); keys are
 * left as they are. Issues carry the path of the string they came from.
 */
export function renderDeep(
  value: unknown,
  context: TemplateContext,
  path: string,
): { ok: true; value: unknown } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const walk = (v: unknown, p: string): unknown => {
    if (typeof v === "string") {
      const r = render(v, context, p);
      if (!r.ok) issues.push(...r.issues);
      return r.ok ? r.value : v;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${p}[${i}]`));
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, `${p}.${k}`)]));
    }
    return v;
  };
  const out = walk(value, path);
  return issues.length ? { ok: false, issues } : { ok: true, value: out };
}

/**
 * Every reference made by strings anywhere inside a JSON-like value, and every expression that is
 * not one, each with the path of its string below `path` (`kubernetesConfig.manifests[2]`).
 */
export function deepReferences(value: unknown, path = ""): { refs: (Reference & { path: string })[]; errors: Issue[] } {
  const refs: (Reference & { path: string })[] = [];
  const errors: Issue[] = [];
  const walk = (v: unknown, p: string): void => {
    if (typeof v === "string") {
      const r = references(v);
      refs.push(...r.refs.map((ref) => ({ ...ref, path: p })));
      errors.push(...r.errors.map((message) => ({ path: p, message })));
    } else if (Array.isArray(v)) v.forEach((item, i) => walk(item, `${p}[${i}]`));
    else if (v !== null && typeof v === "object")
      for (const [k, item] of Object.entries(v)) walk(item, p ? `${p}.${k}` : k);
  };
  walk(value, path);
  return { refs, errors };
}
