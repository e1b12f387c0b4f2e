import { InvalidArgumentError } from "commander";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReleaseSummary, ReleaseView } from "../../cli/api-types.js";
import { crossCheck, localObjects, plan, serverIssues } from "../../cli/apply-plan.js";
import { classify, readConfigSources, resolveLocalManifests } from "../../cli/config-files.js";
import { parseParam } from "../../cli/commands/release.js";
import { bashCompletion, zshCompletion } from "../../cli/completion.js";
import { contextFilePath, readContexts, resolveTarget, writeContexts } from "../../cli/contexts.js";
import { shortDiff } from "../../cli/diff.js";
import { buildProgram } from "../../cli/program.js";
import { judge, waitingReasons } from "../../cli/release-progress.js";
import { formatDuration, parseDuration, parseInstant, relativeTime } from "../../cli/time.js";
import { docs } from "../support/fixtures.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "slipway-cli-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (path: string, text: string) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
};

describe("durations and times", () => {
  it("reads durations as config files write them, and refuses anything else as a usage error", () => {
    expect(parseDuration("30s")).toBe(30);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(() => parseDuration("soon")).toThrow(InvalidArgumentError);
    expect(() => parseDuration("")).toThrow(InvalidArgumentError);
  });

  it("writes durations with their two largest units, and times relative to now", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(59.6)).toBe("1m");
    expect(formatDuration(5400)).toBe("1h30m");
    expect(formatDuration(7200)).toBe("2h");
    expect(formatDuration(90061)).toBe("1d1h");
    const now = Date.parse("2026-12-24T12:00:00Z");
    expect(relativeTime("2026-12-24T11:55:00Z", now)).toBe("5m ago");
    expect(relativeTime("2026-12-24T12:00:25Z", now)).toBe("in 25s");
    expect(relativeTime("2026-12-24T12:00:00.300Z", now)).toBe("just now");
    expect(relativeTime(undefined, now)).toBe("-");
  });

  it("takes an instant as an RFC 3339 time with an offset, or as a duration from or before now", () => {
    expect(parseInstant("ahead")("2026-12-24T18:00:00+01:00")).toBe("2026-12-24T18:00:00+01:00");
    const before = Date.now();
    const ahead = Date.parse(parseInstant("ahead")("30m"));
    const ago = Date.parse(parseInstant("ago")("1h"));
    const after = Date.now();
    expect(ahead).toBeGreaterThanOrEqual(before + 1_800_000);
    expect(ahead).toBeLessThanOrEqual(after + 1_800_000);
    expect(ago).toBeLessThanOrEqual(after - 3_600_000);
    expect(() => parseInstant("ahead")("2026-12-24T18:00:00")).toThrow(/UTC offset/);
    expect(() => parseInstant("ago")("yesterday")).toThrow(InvalidArgumentError);
  });
});

describe("release parameters", () => {
  it("sends name=value as a string and name:=value as JSON", () => {
    let params = parseParam("image=registry.example.com/a:1=2");
    params = parseParam("replicas:=3", params);
    params = parseParam('label:="3"', params);
    expect(params).toEqual({ image: "registry.example.com/a:1=2", replicas: 3, label: "3" });
    expect(() => parseParam("noequals")).toThrow(InvalidArgumentError);
    expect(() => parseParam("1bad=x")).toThrow(InvalidArgumentError);
    expect(() => parseParam("n:=not json")).toThrow(/must be JSON/);
  });
});

describe("apply's diff", () => {
  it("shows a replaced line as removed then added, with a line of context, eliding the rest", () => {
    const before = ["a", "b", "c", "d", "e", "f", "g"].join("\n");
    const after = ["a", "B", "c", "d", "e", "f", "G"].join("\n");
    expect(shortDiff(before, after)).toEqual(["  a", "- b", "+ B", "  c", "  …", "  f", "- g", "+ G"]);
    expect(shortDiff(before, before)).toEqual([]);
  });

  it("stops at a limit and says how much it left out", () => {
    const before = Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n");
    const after = Array.from({ length: 30 }, (_, i) => `LINE ${i}`).join("\n");
    const diff = shortDiff(before, after, { limit: 10 });
    expect(diff).toHaveLength(11);
    expect(diff[10]).toBe("  … 50 more lines");
  });
});

describe("config files", () => {
  it("tells Slipway config files from Kubernetes manifests, templates and broken YAML included", () => {
    expect(classify("# comment\nservice:\n  name: api\n")).toBe("config");
    expect(classify("service:\n  name: [broken\n")).toBe("config");
    expect(classify("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n")).toBe(
      "kubernetes",
    );
    expect(classify("name: values\nreplicas: 3\n")).toBe("other");
    expect(classify("service: {}\napplication: {}\n")).toBe("other");
  });

  it("reads a folder recursively, resolving local manifests relative to the service file", () => {
    const tree = join(dir, "tree");
    write(
      join(tree, "runtimes.yaml"),
      "runtime:\n  name: k8s-staging\n  kubernetes: {}\n---\nruntime:\n  name: k8s-production\n  kubernetes: {}\n",
    );
    write(join(tree, "notes.yaml"), "owner: team-a\n");
    write(join(tree, ".hidden/x.yaml"), "runtime:\n  name: hidden\n  kubernetes: {}\n");
    const svc = join(tree, "applications/shop/services/api");
    write(
      join(svc, "api.yaml"),
      "service:\n  name: api\n  application: shop\n  kubernetesConfig:\n    local:\n      path: .\n",
    );
    write(join(svc, "b-service.yml"), "apiVersion: v1\nkind: Service\n");
    write(
      join(svc, "a-deployment.yaml"),
      "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n",
    );
    write(join(svc, "README.md"), "not yaml");
    write(join(svc, "k8s/only.yaml"), "apiVersion: v1\nkind: ConfigMap\n");

    const read = readConfigSources([tree]);
    expect(read.issues).toEqual([]);
    expect(read.skipped.map((s) => s.file.endsWith("notes.yaml"))).toEqual([true]);
    const byName = read.documents.map((d) => {
      const doc = d.document as { runtime?: { name: string }; service?: { name: string; kubernetesConfig: unknown } };
      return doc.runtime?.name ?? doc.service?.name;
    });
    // Sorted by path; two documents of one file are told apart; subfolders of a service are not its manifests.
    expect(byName).toEqual(["api", "k8s-staging", "k8s-production"]);
    expect(read.documents[1]).toMatchObject({ index: 0, of: 2 });
    const api = read.documents[0]!.document as { service: { kubernetesConfig: { manifests: string[] } } };
    expect(api.service.kubernetesConfig).toEqual({
      manifests: [
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n",
        "apiVersion: v1\nkind: Service\n",
      ],
    });
    expect(resolveLocalManifests({ service: { kubernetesConfig: { local: { path: "k8s" } } } }, svc)).toEqual({
      ok: true,
      document: { service: { kubernetesConfig: { manifests: ["apiVersion: v1\nkind: ConfigMap\n"] } } },
    });
  });

  it("names the field of a local path that is missing, empty or combined with inline manifests", () => {
    const base = join(dir, "local");
    write(join(base, "svc.yaml"), "service: {}\n");
    const messages = (kubernetesConfig: unknown) => {
      const r = resolveLocalManifests({ service: { kubernetesConfig } }, base);
      return r.ok ? [] : r.messages;
    };
    expect(messages({ local: { path: "./nowhere" } })).toEqual([
      'service.kubernetesConfig.local.path: "./nowhere" does not exist',
    ]);
    expect(messages({ local: { path: "." } })).toEqual([
      'service.kubernetesConfig.local.path: "." holds no Kubernetes manifests (.yaml or .yml files other than Slipway config files)',
    ]);
    expect(messages({ local: {} })).toEqual([
      "service.kubernetesConfig.local.path is required: the file or folder of the manifests, relative to this file",
    ]);
    expect(messages({ local: { path: ".", recursive: true } })).toEqual([
      "service.kubernetesConfig.local.recursive is not a known field",
    ]);
    expect(messages({ local: { path: "." }, manifests: ["x"] })).toEqual([
      "service.kubernetesConfig: give either manifests or local, not both",
    ]);
    const extension = resolveLocalManifests(
      { runtime: { extension: { apply: { kubernetesConfig: { local: { path: "svc.yaml" } } } } } },
      base,
    );
    expect(extension).toEqual({
      ok: true,
      document: { runtime: { extension: { apply: { kubernetesConfig: { manifests: ["service: {}\n"] } } } } },
    });
  });

  it("reports a file given by name whatever it holds, with the line of a syntax error", () => {
    write(join(dir, "broken.yaml"), "runtime:\n  name: [oops\n");
    write(join(dir, "values.yaml"), "replicas: 3\n");
    const read = readConfigSources([join(dir, "broken.yaml"), join(dir, "values.yaml"), join(dir, "absent.yaml")]);
    expect(read.issues.map((i) => i.message)).toEqual([
      "no such file or folder",
      "not valid YAML: line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ]);
    expect(read.documents).toHaveLength(1);
    expect(localObjects(read.documents).issues.map((i) => i.message)).toEqual([
      "replicas is not a known field",
      "the document must define one object: one of runtime, application, service",
    ]);
  });
});

describe("apply's plan", () => {
  const source = (document: object, file = "app.yaml") => ({
    file,
    index: 0,
    of: 1,
    document: document as Record<string, unknown>,
  });

  it("compares the spec with its defaults filled in, as the server does", () => {
    const { objects } = localObjects([source(docs.shop)]);
    const stored = { kind: "application" as const, name: "shop", version: 1, spec: objects[0]!.spec };
    expect(plan(objects[0]!, undefined).result).toBe("created");
    expect(plan(objects[0]!, stored)).toEqual({
      kind: "application",
      name: "shop",
      file: "app.yaml",
      result: "unchanged",
    });
    const changed = localObjects([
      source({
        application: {
          ...docs.shop.application,
          releaseChannels: [
            docs.shop.application.releaseChannels[0],
            { ...docs.shop.application.releaseChannels[1], constants: { replicas: 5 } },
          ],
        },
      }),
    ]).objects[0]!;
    expect(plan(changed, stored).diff).toEqual(expect.arrayContaining(["-       replicas: 3", "+       replicas: 5"]));
  });

  it("refuses an object defined twice, naming both files", () => {
    expect(localObjects([source(docs.staging, "a.yaml"), source(docs.staging, "b.yaml")]).issues).toEqual([
      { file: "b.yaml", message: 'runtime "k8s-staging" is also defined in a.yaml' },
    ]);
  });

  it("checks references against what the server holds, naming the file of the document at fault", () => {
    const { objects } = localObjects([source(docs.shop, "shop.yaml"), source(docs.api, "api.yaml")]);
    const staging = { kind: "runtime" as const, name: "k8s-staging", version: 1, spec: docs.staging.runtime };
    expect(crossCheck(objects, [staging])).toEqual([
      {
        file: "shop.yaml",
        message: 'application.releaseChannels[1].runtimes[0].runtime: runtime "k8s-production" does not exist',
      },
    ]);
    const production = { kind: "runtime" as const, name: "k8s-production", version: 1, spec: docs.production.runtime };
    expect(crossCheck(objects, [staging, production])).toEqual([]);
  });

  it("names the server's errors by the file of the document it numbered", () => {
    const { objects } = localObjects([source(docs.shop, "shop.yaml"), source(docs.api, "api.yaml")]);
    expect(
      serverIssues(
        [
          { path: "documents[1].service.application", message: "documents[1].service.application: nope" },
          { path: "application:other.releaseChannels[0]", message: "broken by this apply" },
        ],
        objects,
      ),
    ).toEqual([
      { file: "api.yaml", message: "service.application: nope" },
      { file: "(stored config)", message: "application:other.releaseChannels[0]: broken by this apply" },
    ]);
  });
});

describe("watching a release", () => {
  const summary = (
    channels: [string, ReleaseSummary["channels"][number]["state"]][],
    more: Partial<ReleaseSummary> = {},
  ): ReleaseSummary => ({
    releaseId: "rel-1",
    application: "shop",
    service: "api",
    params: {},
    cause: "ci",
    createdAt: "2026-12-24T12:00:00Z",
    status: "active",
    channels: channels.map(([name, state]) => ({ name, state })),
    ...more,
  });

  it("is done once the release converged in the target channel, or converged there and was replaced", () => {
    expect(
      judge(
        summary([
          ["staging", "converged"],
          ["production", "converged"],
        ]),
        "production",
      ),
    ).toEqual({
      done: true,
      ok: true,
      message: "release rel-1 converged in production",
    });
    expect(
      judge(
        summary([
          ["staging", "replaced"],
          ["production", "waiting"],
        ]),
        "staging",
      ),
    ).toMatchObject({ ok: true });
    expect(
      judge(
        summary([
          ["staging", "converged"],
          ["production", "replaced"],
        ]),
        "production",
      ),
    ).toMatchObject({ ok: true });
  });

  it("fails when the release will never get there, saying why", () => {
    const reason = (s: ReleaseSummary, target = "production") => {
      const v = judge(s, target);
      return v.done && !v.ok ? v.reason : undefined;
    };
    expect(
      reason(
        summary([
          ["staging", "failed"],
          ["production", "pending"],
        ]),
      ),
    ).toBe("release rel-1 failed in staging");
    expect(
      reason(
        summary([
          ["staging", "converged"],
          ["production", "rolledBack"],
        ]),
      ),
    ).toBe("release rel-1 was rolled back in production");
    expect(
      reason(
        summary(
          [
            ["staging", "converged"],
            ["production", "abandoned"],
          ],
          { status: "abandoned" },
        ),
      ),
    ).toBe("release rel-1 was abandoned");
    expect(
      reason(
        summary(
          [
            ["staging", "converged"],
            ["production", "bad"],
          ],
          { bad: { reason: "corrupts carts" } },
        ),
      ),
    ).toBe("release rel-1 was marked bad: corrupts carts");
    const view = { channels: [{ name: "staging" }, { name: "production", supersededBy: "rel-2" }] } as ReleaseView;
    const superseded = judge(
      summary([
        ["staging", "converged"],
        ["production", "superseded"],
      ]),
      "production",
      view,
    );
    expect(superseded).toEqual({
      done: true,
      ok: false,
      reason: "release rel-1 was superseded in production by rel-2",
    });
    // A failure past the target does not concern a watch that stops before it.
    expect(
      judge(
        summary([
          ["staging", "converged"],
          ["production", "failed"],
        ]),
        "staging",
      ),
    ).toMatchObject({ ok: true });
  });

  it("keeps watching while the release is on its way, saying where it is and why it waits", () => {
    const s = summary([
      ["staging", "converged"],
      ["production", "waiting"],
    ]);
    s.channels[1]!.waiting = ["approval pending", "channel paused: incident"];
    const view = {
      channels: [
        { name: "staging", preconditions: {} },
        {
          name: "production",
          preconditions: {
            soak: { state: "blocked", reason: "staging must soak", until: "2026-12-24T12:00:30Z" },
            approval: { state: "blocked", reason: "approval pending" },
            window: { state: "satisfied" },
          },
        },
      ],
    } as unknown as ReleaseView;
    expect(judge(s, "production", view)).toMatchObject({
      done: false,
      reason: expect.stringMatching(/^production waiting: staging must soak \(in \d/),
    });
    expect(waitingReasons("production", s, view, { now: Date.parse("2026-12-24T12:00:00Z") })).toEqual([
      "staging must soak (in 30s)",
      "approval pending",
      "channel paused: incident",
    ]);
    expect(waitingReasons("production", s, view, { countdown: false })).toEqual([
      "staging must soak",
      "approval pending",
      "channel paused: incident",
    ]);
    expect(
      judge(
        summary([
          ["staging", "deploying"],
          ["production", "pending"],
        ]),
        "production",
      ),
    ).toEqual({
      done: false,
      reason: "staging deploying",
    });
  });
});

describe("contexts", () => {
  it("keeps the file readable by its owner alone, and lets the environment override a context", () => {
    const env = { XDG_CONFIG_HOME: join(dir, "config") };
    const path = contextFilePath(env);
    expect(path).toBe(join(dir, "config", "slipway", "config.json"));
    writeContexts(
      { current: "a", contexts: { a: { url: "http://a", apiKey: "ka" }, b: { url: "http://b", apiKey: "kb" } } },
      path,
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readContexts(path).current).toBe("a");
    expect(resolveTarget(undefined, env)).toEqual({ url: "http://a", apiKey: "ka", context: "a" });
    expect(resolveTarget("b", env)).toEqual({ url: "http://b", apiKey: "kb", context: "b" });
    expect(resolveTarget(undefined, { ...env, SLIPWAY_API_KEY: "kx" })).toMatchObject({
      url: "http://a",
      apiKey: "kx",
    });
    expect(resolveTarget(undefined, { ...env, SLIPWAY_URL: "http://x" })).toMatchObject({
      url: "http://x",
      apiKey: "ka",
    });
    expect(() => resolveTarget("c", env)).toThrow('there is no context "c"');
    expect(() => resolveTarget(undefined, { XDG_CONFIG_HOME: join(dir, "empty") })).toThrow(/slipway login/);
  });
});

describe("shell completion", () => {
  /** What bash offers after `words`, the last being the word being completed. */
  function complete(words: string[]): string[] {
    const script = `${bashCompletion(buildProgram())}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _slipway; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const run = spawnSync("bash", ["-c", script], { encoding: "utf8", cwd: dir });
    expect(run.stderr).toBe("");
    return run.stdout.split("\n").filter(Boolean);
  }

  it("completes commands, subcommands, flags and the values they take, from the command tree", () => {
    expect(complete(["slipway", ""])).toEqual(
      expect.arrayContaining(["apply", "get", "release", "mark-bad", "completion"]),
    );
    expect(complete(["slipway", "get", ""])).toEqual(["applications", "releases", "runtimes", "apikeys", "secrets"]);
    expect(complete(["slipway", "--context", "prod", "release", ""])).toEqual(["create", "watch"]);
    expect(complete(["slipway", "runtime", ""])).toEqual(["link", "wait", "rotate-token", "revoke"]);
    expect(complete(["slipway", "runtime", "revoke", "k8s", "--p"])).toEqual(["--previous"]);
    expect(complete(["slipway", "get", "releases", "--state", "r"])).toEqual(["replaced", "rolledBack"]);
    expect(complete(["slipway", "describe", "release", "rel-1", "-o", ""])).toEqual(["table", "json", "yaml"]);
    expect(complete(["slipway", "release", "watch", "rel-1", "--t"])).toEqual(["--timeout"]);
    expect(complete(["slipway", "apply", "-f", "broken"])).toEqual(["broken.yaml"]);
  });

  it("gives zsh a script of the same tree that zsh reads", () => {
    const script = zshCompletion(buildProgram());
    expect(script.startsWith("#compdef slipway\n")).toBe(true);
    expect(script).toContain(`'slipway get|--state') echo 'pending waiting`);
    const zsh = spawnSync("zsh", ["-n"], { input: script, encoding: "utf8" });
    // zsh is not on every machine; where it is, the script must parse.
    if (!zsh.error) expect(zsh.status, zsh.stderr).toBe(0);
  });
});
