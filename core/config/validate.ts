import type { z } from "zod";
import { formatPath, type Issue } from "../errors.js";
import { applicationGateIssues, preconditionIssues } from "../gates/registry.js";
import { BUILTINS, deepReferences } from "../templating.js";
import { constantsIn, perChannelIssues } from "./per-channel.js";
import {
  ConfigDocument,
  objectOf,
  runtimeType,
  type Application,
  type ConfigObject,
  type Runtime,
  type Service,
} from "./schema.js";

/** Every config object by kind and name: what cross-object validation checks as a whole. */
export type ConfigSet = {
  runtimes: ReadonlyMap<string, Runtime>;
  applications: ReadonlyMap<string, Application>;
  services: ReadonlyMap<string, Service>;
};

export type ParsedDocuments = { ok: true; objects: ConfigObject[] } | { ok: false; issues: Issue[] };

/**
 * Parses config documents (already loaded from YAML or JSON). Paths are prefixed with
 * `documents[i]` only when more than one document is given, so a single file's errors read
 * exactly as its own paths: `application.releaseChannels[1].name`.
 */
export function parseDocuments(documents: readonly unknown[]): ParsedDocuments {
  const issues: Issue[] = [];
  const objects: ConfigObject[] = [];
  const seen = new Map<string, number>();
  documents.forEach((doc, i) => {
    const prefix: PropertyKey[] = documents.length > 1 ? ["documents", i] : [];
    const result = ConfigDocument.safeParse(doc, { reportInput: true });
    if (!result.success) {
      issues.push(...zodIssues(result.error, prefix));
      return;
    }
    const object = objectOf(result.data);
    const key = `${object.kind}/${object.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({
        path: formatPath([...prefix, object.kind, "name"]),
        message: `${object.kind} "${object.name}" is defined twice in one apply (also in documents[${first}])`,
      });
      return;
    }
    seen.set(key, i);
    objects.push(object);
  });
  return issues.length ? { ok: false, issues } : { ok: true, objects };
}

/** Turns zod's issues into sentences that name the field and what is wrong with it. */
export function zodIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): Issue[] {
  return error.issues.flatMap((issue): Issue[] => {
    const path = formatPath([...prefix, ...issue.path]);
    const field = path === "" ? "the document" : path;
    switch (issue.code) {
      case "invalid_type": {
        // Parsers run without reportInput only say what they received at the end of the message.
        const received =
          "input" in issue
            ? issue.input === undefined
              ? "undefined"
              : describeValue(issue.input)
            : (/received (\w+)$/.exec(issue.message)?.[1] ?? "something else");
        if (received === "undefined") return [{ path, message: `${field} is required` }];
        return [{ path, message: `${field} must be ${article(issue.expected)}, not ${received}` }];
      }
      case "unrecognized_keys":
        return issue.keys.map((key) => ({
          path: formatPath([...prefix, ...issue.path, key]),
          message: `${formatPath([...prefix, ...issue.path, key])} is not a known field`,
        }));
      case "invalid_value":
        return [{ path, message: `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` }];
      case "invalid_key": {
        // A record's key (a release channel under perChannel): say what the key must be.
        const why = issue.issues.map((i) => i.message).find((m) => m.startsWith("must"));
        return [{ path, message: why ? `${field} is not a valid name: it ${why}` : `${field} is not a valid key` }];
      }
      case "too_small":
        return [{ path, message: `${field} ${issue.message.startsWith("must") ? issue.message : tooSmall(issue)}` }];
      case "too_big":
        return [{ path, message: `${field} ${issue.message.startsWith("must") ? issue.message : tooBig(issue)}` }];
      default:
        return [
          {
            path,
            message:
              issue.message.startsWith("must") || issue.message.startsWith("default")
                ? `${field} ${issue.message}`
                : `${field}: ${issue.message}`,
          },
        ];
    }
  });
}

function tooSmall(issue: { origin: string; minimum: number | bigint }): string {
  return issue.origin === "array"
    ? `must have at least ${issue.minimum} item(s)`
    : `must be at least ${issue.minimum}${issue.origin === "string" ? " characters long" : ""}`;
}
function tooBig(issue: { origin: string; maximum: number | bigint }): string {
  return issue.origin === "array"
    ? `must have at most ${issue.maximum} item(s)`
    : `must be at most ${issue.maximum}${issue.origin === "string" ? " characters long" : ""}`;
}
function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  // A URL in the wrong place may be a credential (a Slack webhook): errors never repeat one.
  if (typeof value === "string" && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return "a URL";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Checks what no single document can: references between objects. `where` says how to name each
 * object in a path (its document index in the current apply, or its kind and name if stored).
 */
export function validateConfigSet(
  set: ConfigSet,
  where: (kind: ConfigObject["kind"], name: string) => string,
): Issue[] {
  const issues: Issue[] = [];
  const at = (kind: ConfigObject["kind"], name: string, path: PropertyKey[]) => {
    const base = where(kind, name);
    const rest = formatPath(path);
    return rest === "" ? base : rest.startsWith("[") ? `${base}${rest}` : `${base}.${rest}`;
  };

  for (const [name, runtime] of set.runtimes) {
    if (!runtime.extension) continue;
    const proxy = runtime.extension.proxyRuntime.runtime;
    const target = set.runtimes.get(proxy);
    const path = at("runtime", name, ["extension", "proxyRuntime", "runtime"]);
    if (!target) issues.push({ path, message: `proxy runtime "${proxy}" does not exist` });
    else if (runtimeType(target) !== "kubernetes")
      issues.push({ path, message: `proxy runtime "${proxy}" must be a kubernetes runtime, but it is an extension` });
    issues.push(
      ...unknownReferences(
        runtime.extension.apply,
        new Set(runtime.extension.parameters.map((p) => p.name)),
        at("runtime", name, ["extension", "apply"]),
      ),
    );
    issues.push(
      ...duplicates(
        runtime.extension.parameters.map((p) => p.name),
        (i) => at("runtime", name, ["extension", "parameters", i, "name"]),
        "parameter",
      ),
    );
  }

  for (const [name, app] of set.applications) {
    issues.push(
      ...duplicates(
        app.releaseChannels.map((c) => c.name),
        (i) => at("application", name, ["releaseChannels", i, "name"]),
        "release channel",
      ),
    );
    app.releaseChannels.forEach((channel, ci) => {
      channel.runtimes.forEach((cr, ri) => {
        const runtime = set.runtimes.get(cr.runtime);
        const path = at("application", name, ["releaseChannels", ci, "runtimes", ri, "runtime"]);
        if (!runtime) issues.push({ path, message: `runtime "${cr.runtime}" does not exist` });
        else if (runtimeType(runtime) !== cr.type)
          issues.push({
            path: at("application", name, ["releaseChannels", ci, "runtimes", ri, "type"]),
            message: `runtime "${cr.runtime}" is of type ${runtimeType(runtime)}, but the channel lists it as ${cr.type}`,
          });
      });
      issues.push(
        ...duplicates(
          channel.runtimes.map((r) => r.name ?? r.runtime),
          (i) => at("application", name, ["releaseChannels", ci, "runtimes", i]),
          "runtime connection",
        ),
      );
      for (const issue of preconditionIssues(app, ci))
        issues.push({ path: at("application", name, ["releaseChannels", ci, ...issue.path]), message: issue.message });
    });
    for (const issue of applicationGateIssues(app))
      issues.push({ path: at("application", name, issue.path), message: issue.message });
  }

  for (const [name, service] of set.services) {
    const app = set.applications.get(service.application);
    if (!app) {
      issues.push({
        path: at("service", name, ["application"]),
        message: `application "${service.application}" does not exist`,
      });
      continue;
    }
    const params = new Set(service.parameters.map((p) => p.name));
    issues.push(
      ...duplicates(
        service.parameters.map((p) => p.name),
        (i) => at("service", name, ["parameters", i, "name"]),
        "parameter",
      ),
    );
    const wanted = service.kubernetesConfig ? "kubernetes" : "extension";
    const content = service.kubernetesConfig ?? service.runtimeExtension;
    const contentPath = at("service", name, [service.kubernetesConfig ? "kubernetesConfig" : "runtimeExtension"]);
    issues.push(...unknownReferences(content, params, contentPath));
    // A constant must have a value in every channel: the service's own, the channel's, or the
    // service's for that channel.
    // Each constant is reported once, at the first string that uses it.
    const constants = new Map<string, string>();
    for (const r of deepReferences(content, contentPath).refs)
      if (r.scope === "Constants" && !constants.has(r.name)) constants.set(r.name, r.path);
    for (const [constant, usedAt] of constants) {
      const missing = app.releaseChannels
        .filter((c) => !Object.hasOwn(constantsIn(service, c), constant))
        .map((c) => `"${c.name}"`);
      if (missing.length)
        issues.push({
          path: usedAt,
          message: `{{.Constants.${constant}}} has no value in release channel${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of application "${app.name}", nor in the service's constants`,
        });
    }
    issues.push(...perChannelIssues(service, app, (path) => at("service", name, path)));
    app.releaseChannels.forEach((channel) => {
      const targets = channelTargets(channel.runtimes, service);
      if (targets.length === 0) {
        issues.push({
          path: at("service", name, [
            service.runtimeConnection
              ? "runtimeConnection"
              : service.kubernetesConfig
                ? "kubernetesConfig"
                : "runtimeExtension",
          ]),
          message: service.runtimeConnection
            ? `release channel "${channel.name}" has no ${wanted} runtime connection named "${service.runtimeConnection}"`
            : `release channel "${channel.name}" has no ${wanted} runtime to deploy this service to`,
        });
      }
      if (!service.runtimeExtension) return;
      for (const target of targets) {
        const ext = set.runtimes.get(target.runtime)?.extension;
        if (!ext) continue;
        const declared = new Set(ext.parameters.map((p) => p.name));
        service.runtimeExtension.parameterValues.forEach((pv, i) => {
          if (!declared.has(pv.name))
            issues.push({
              path: at("service", name, ["runtimeExtension", "parameterValues", i, "name"]),
              message: `runtime "${target.runtime}" (channel "${channel.name}") declares no parameter "${pv.name}"`,
            });
        });
        for (const p of ext.parameters) {
          if (
            p.required &&
            p.default === undefined &&
            !service.runtimeExtension.parameterValues.some((pv) => pv.name === p.name)
          )
            issues.push({
              path: at("service", name, ["runtimeExtension", "parameterValues"]),
              message: `runtime "${target.runtime}" (channel "${channel.name}") requires parameter "${p.name}"`,
            });
        }
      }
    });
  }
  return issues;
}

/** The runtimes of a channel a service deploys to: by connection name if it names one, else by kind. */
export function channelTargets<
  R extends { runtime: string; type: "kubernetes" | "extension"; name?: string | undefined },
>(runtimes: readonly R[], service: Pick<Service, "kubernetesConfig" | "runtimeConnection">): R[] {
  const wanted = service.kubernetesConfig ? "kubernetes" : "extension";
  return runtimes.filter(
    (r) =>
      r.type === wanted &&
      (service.runtimeConnection === undefined || (r.name ?? r.runtime) === service.runtimeConnection),
  );
}

/**
 * What a template refers to that cannot be rendered, each at the path of the string holding it:
 * an expression that is not a reference, an undeclared parameter, a builtin that does not exist.
 */
function unknownReferences(content: unknown, params: ReadonlySet<string>, path: string): Issue[] {
  const { refs, errors } = deepReferences(content, path);
  const issues: Issue[] = [...errors];
  const reported = new Set<string>();
  for (const ref of refs) {
    const problem =
      ref.scope === "Params" && !params.has(ref.name)
        ? `{{.Params.${ref.name}}} refers to a parameter that is not declared`
        : ref.scope === "Builtins" && !(BUILTINS as readonly string[]).includes(ref.name)
          ? `{{.Builtins.${ref.name}}} is not a builtin; there are ${BUILTINS.join(", ")}`
          : undefined;
    if (!problem || reported.has(`${ref.path} ${problem}`)) continue;
    reported.add(`${ref.path} ${problem}`);
    issues.push({ path: ref.path, message: problem });
  }
  return issues;
}

function duplicates(names: string[], path: (i: number) => string, what: string): Issue[] {
  const seen = new Set<string>();
  return names.flatMap((n, i) => {
    if (!seen.has(n)) {
      seen.add(n);
      return [];
    }
    return [{ path: path(i), message: `${what} "${n}" is defined more than once` }];
  });
}
