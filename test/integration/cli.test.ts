import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { SecretStore } from "../../functions/adapters/secret-store.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { FakeAgent } from "../support/fake-agent.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * The `slipway` CLI end to end: the real bin spawned as a process, against the local stack over
 * real HTTP, with a config folder of its own (a temporary HOME and XDG_CONFIG_HOME).
 */

const root = join(import.meta.dirname, "../..");
const bin = join(root, "cli/bin.mjs");
let p: Pipeline;
let home: string;
const agents: FakeAgent[] = [];

type Run = { code: number | null; stdout: string; stderr: string };

/**
 * Runs `slipway args…` without blocking this process, which serves the stack the CLI talks to.
 * `env` is added to a clean environment: no SLIPWAY_* of the machine leaks in.
 */
function slipway(args: string[], options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}) {
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        XDG_CONFIG_HOME: join(home, "config"),
        NO_COLOR: "1",
        ...options.env,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}

/** A run that must succeed; its stdout. */
async function ok(args: string[], options: Parameters<typeof slipway>[1] = {}): Promise<string> {
  const run = await slipway(args, options);
  expect(run.code, `slipway ${args.join(" ")}\n${run.stderr}`).toBe(0);
  return run.stdout;
}
const json = async <T>(args: string[], options: Parameters<typeof slipway>[1] = {}) =>
  JSON.parse(await ok([...args, "-o", "json"], options)) as T;

/** A port nothing listens on: one the system just handed out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** An application whose production channel waits for a manual approval. */
const approval = { production: { preconditions: [{ manualApproval: {} }] } };
const image = (app: string, tag: string) => `image=registry.example.com/${app}/api:${tag}`;

beforeAll(async () => {
  p = await openPipeline("cli");
  home = mkdtempSync(join(tmpdir(), "slipway-cli-"));
  await ok(["login", "--url", p.stack.httpUrl, "--api-key", p.secrets.adminApiKey]);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await p?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("contexts", () => {
  it("stores contexts in the user's config folder, readable by the user alone, and switches between them", async () => {
    const file = join(home, "config", "slipway", "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const issued = await p.api("/v1/api-keys", { method: "POST", body: { name: "ci-bot", scopes: ["release"] } });
    const ciKey = issued.body.key as string;

    // A key with no read scope is still a key the server knows: it is stored, with a note.
    const login = await slipway(["login", "--url", p.stack.httpUrl, "--api-key", "-", "--context", "ci"], {
      stdin: `${ciKey}\n`,
    });
    expect(login.code).toBe(0);
    expect(login.stderr).toContain("no read scope");
    expect(await json(["context", "list"])).toEqual({
      current: "ci",
      contexts: [
        { name: "default", url: p.stack.httpUrl, current: false },
        { name: "ci", url: p.stack.httpUrl, current: true },
      ],
    });
    expect(readFileSync(file, "utf8")).toContain(ciKey);

    const refused = await slipway(["get", "runtimes"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: 403 auth\.scope: /);

    await ok(["context", "use", "default"]);
    expect(await ok(["context", "list"])).toMatch(/^\*\s+default\s/m);
    const unknown = await slipway(["context", "use", "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('there is no context "nope"');
    // One command may name another context; the default stays current.
    expect((await slipway(["get", "runtimes", "--context", "ci"])).code).toBe(1);
    expect((await slipway(["get", "runtimes"])).code).toBe(0);
  });

  it("lets SLIPWAY_URL and SLIPWAY_API_KEY override the context, and says so in one line when the key is refused", async () => {
    const refused = await slipway(["get", "runtimes"], { env: { SLIPWAY_API_KEY: "not-a-key" } });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/^error: 401 auth\.\w+: .*log in again/);

    const fresh = mkdtempSync(join(tmpdir(), "slipway-cli-env-"));
    try {
      const run = await slipway(["get", "runtimes", "-o", "json"], {
        env: { XDG_CONFIG_HOME: fresh, SLIPWAY_URL: p.stack.httpUrl, SLIPWAY_API_KEY: p.secrets.adminApiKey },
      });
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as { items: { name: string }[] }).items.map((r) => r.name).sort()).toEqual([
        "k8s-production",
        "k8s-staging",
      ]);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe("apply", () => {
  let tree: string;
  type Applied = {
    dryRun: boolean;
    objects: { kind: string; name: string; file: string; result: string; version?: number; diff?: string[] }[];
  };
  const results = (a: Applied) => Object.fromEntries(a.objects.map((o) => [`${o.kind}/${o.name}`, o.result]));
  beforeAll(() => {
    tree = mkdtempSync(join(tmpdir(), "slipway-cli-tree-"));
    cpSync(join(root, "examples/config"), tree, { recursive: true });
  });
  afterAll(() => rmSync(tree, { recursive: true, force: true }));

  it("applies the reference tree as it is: created, then unchanged; manifests read from beside each service", async () => {
    const created = await json<Applied>(["apply", "-f", "."], { cwd: tree });
    expect(results(created)).toEqual({
      "application/shop": "created",
      "service/api": "created",
      "service/web": "created",
      // The pipeline applied the runtimes already, exactly as the tree has them.
      "runtime/k8s-staging": "unchanged",
      "runtime/k8s-production": "unchanged",
    });
    expect(created.objects.find((o) => o.name === "api")).toMatchObject({
      file: "applications/shop/services/api/api.yaml",
      version: 1,
    });
    const api = await p.api("/v1/configs/service/api");
    const manifests = (api.body.spec as { kubernetesConfig: { manifests: string[] } }).kubernetesConfig.manifests;
    const beside = (name: string) => readFileSync(join(tree, "applications/shop/services/api", name), "utf8");
    // The files in the service's folder other than the service itself, by name: deployment, then service.
    expect(manifests).toEqual([beside("deployment.yaml"), beside("service.yaml")]);

    const again = await ok(["apply", "-f", "."], { cwd: tree });
    expect(again).toMatch(/^application\/shop unchanged \(version 1\)/m);
    expect(again).toMatch(/^service\/api unchanged \(version 1\)/m);
    expect(again).not.toMatch(/\b(created|changed)\b/);
  });

  it("shows a change with a short diff, changes nothing in a dry run, and applies it for real", async () => {
    const file = join(tree, "applications/shop/shop.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("replicas: 3", "replicas: 5"));

    const dry = await json<Applied>(["apply", "-f", ".", "--dry-run"], { cwd: tree });
    expect(dry.dryRun).toBe(true);
    const shop = dry.objects.find((o) => o.name === "shop")!;
    expect(shop).toMatchObject({ result: "changed", file: "applications/shop/shop.yaml" });
    expect(shop.diff).toEqual(expect.arrayContaining(["-       replicas: 3", "+       replicas: 5"]));
    expect(shop.version).toBeUndefined();
    expect((await p.api("/v1/configs/application/shop")).body.version).toBe(1);

    const real = await ok(["apply", "-f", "applications"], { cwd: tree });
    expect(real).toMatch(/^application\/shop changed \(version 2\)/m);
    expect(real).toContain("-       replicas: 3");
    expect(real).toContain("+       replicas: 5");
    expect((await p.api("/v1/configs/application/shop")).body.version).toBe(2);
  });

  it("refuses an invalid file, naming the file and the field, and applies none of the others", async () => {
    const broken = join(tree, "applications/shop/services/web/web.yaml");
    const good = readFileSync(broken, "utf8");
    const shop = join(tree, "applications/shop/shop.yaml");
    const shopText = readFileSync(shop, "utf8");
    writeFileSync(broken, good.replace("application: shop", "application: shop\n  replica: 2"));
    writeFileSync(join(tree, "runtimes/k8s-extra.yaml"), "runtime:\n  name: k8s-extra\n  kubernetes: {}\n");
    try {
      const run = await slipway(["apply", "-f", "."], { cwd: tree });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("applications/shop/services/web/web.yaml: service.replica is not a known field");
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect((await p.api("/v1/configs/runtime/k8s-extra")).status).toBe(404);

      // What only the server can tell (a reference to a runtime that does not exist) is named by file too.
      writeFileSync(broken, good);
      writeFileSync(shop, shopText.replace("runtime: k8s-production", "runtime: k8s-mars"));
      for (const args of [["--dry-run"], []]) {
        const refused = await slipway(["apply", "-f", ".", ...args], { cwd: tree });
        expect(refused.code, args.join(" ")).toBe(1);
        expect(refused.stderr).toContain(
          'applications/shop/shop.yaml: application.releaseChannels[1].runtimes[0].runtime: runtime "k8s-mars" does not exist',
        );
      }
      expect((await p.api("/v1/configs/application/shop")).body.version).toBe(2);
    } finally {
      writeFileSync(broken, good);
      writeFileSync(shop, shopText);
      rmSync(join(tree, "runtimes/k8s-extra.yaml"));
    }
  });

  it("deploys the tree's manifests, their templates rendered for the channel", async () => {
    const id = (
      await ok(["release", "create", "--application", "shop", "--service", "api", "--param", image("shop", "1.4.2")])
    ).trim();
    await eventually(async () => p.staging.received(id).length > 0);
    const payload = p.staging.received(id)[0]!.payload as { kind: string; manifests: string[] };
    expect(payload.kind).toBe("kubernetes");
    expect(payload.manifests).toHaveLength(2);
    expect(payload.manifests[0]).toContain("  replicas: 1\n");
    expect(payload.manifests[0]).toContain('image: "registry.example.com/shop/api:1.4.2"');
    expect(payload.manifests[1]).toContain("targetPort: 8080");
  });
});

describe("reading", () => {
  it("prints the API's JSON for scripts and aligned tables for people", async () => {
    const runtimes = await json<{ items: { name: string; linked: boolean; status: string }[] }>(["get", "runtimes"]);
    const fromApi = (await p.api("/v1/runtimes")).body as { items: { name: string }[] };
    expect(runtimes.items.map((r) => r.name)).toEqual(fromApi.items.map((r) => r.name));
    expect(runtimes.items.find((r) => r.name === "k8s-staging")).toMatchObject({ linked: true, status: "connected" });
    const table = await ok(["get", "runtimes"]);
    expect(table.split("\n")[0]).toMatch(/^NAME\s+TYPE\s+LINKED\s+STATUS\s+AGENT\s+LAST SEEN\s+RUNNING$/);
    expect(table).toMatch(/^k8s-staging\s+kubernetes\s+yes\s+connected\s+1\.0\.0\s/m);

    const described = await json<object>(["describe", "runtime", "k8s-staging"]);
    expect(described).toMatchObject({ name: "k8s-staging", type: "kubernetes", linked: true });
    const missing = await slipway(["describe", "runtime", "k8s-nowhere"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('error: 404 runtime.not_found: runtime "k8s-nowhere" does not exist');

    const keys = await json<{ items: { name: string; scopes: string[] }[] }>(["get", "apikeys"]);
    expect(keys.items.map((k) => k.name)).toContain("ci-bot");
  });

  it("describes an application as the API shows it, and lists applications", async () => {
    await p.application("look");
    const id = await p.release("look", "1.0.0");
    await eventually(() => p.convergedOn("look", "production", id));
    await eventually(async () => (await p.api("/v1/applications/look")).body.channels !== undefined);
    const view = await json<{
      application: string;
      channels: { name: string; services: Record<string, { convergedReleaseId?: string }> }[];
    }>(["describe", "application", "look"]);
    expect(view.application).toBe("look");
    expect(view.channels.map((c) => c.name)).toEqual(["staging", "production"]);
    await eventually(async () =>
      (await ok(["describe", "application", "look"])).includes(`look-api  converged  ${id}  ${id}`),
    );
    const apps = await json<{ items: { name: string; channels: string[]; services: string[] }[] }>([
      "get",
      "applications",
    ]);
    expect(apps.items.find((a) => a.name === "look")).toEqual(
      expect.objectContaining({ channels: ["staging", "production"], services: ["look-api"] }),
    );
  });
});

describe("releases", () => {
  it("creates a release with a release-scoped key, and --wait returns once it has converged in the last channel", async () => {
    await p.application("wait");
    const issued = await p.api("/v1/api-keys", {
      method: "POST",
      body: { name: "ci-watch", scopes: ["release", "read"] },
    });
    const run = await slipway(
      [
        "release",
        "create",
        "--application",
        "wait",
        "--service",
        "wait-api",
        "--param",
        image("wait", "1.0.0"),
        "--author",
        "alice",
        "--wait",
        "--timeout",
        "1m",
      ],
      { env: { SLIPWAY_API_KEY: issued.body.key as string } },
    );
    expect(run.code, run.stderr).toBe(0);
    const id = /created (rel-[a-z0-9]+)/.exec(run.stdout)![1]!;
    expect(run.stdout).toMatch(new RegExp(`^production\\s+converged$`, "m"));
    expect(run.stdout.trim().split("\n").pop()).toBe(`release ${id} converged in production`);
    expect(await p.convergedOn("wait", "production", id)).toBe(true);
    const view = (await p.api(`/v1/releases/${id}`)).body;
    expect(view).toMatchObject({ author: "alice", params: { image: "registry.example.com/wait/api:1.0.0" } });

    // Watching a release that is there already ends at once, and so does its JSON.
    const watched = await json<{ releaseId: string; outcome: string; channel: string }>(["release", "watch", id]);
    expect(watched).toMatchObject({ releaseId: id, outcome: "converged", channel: "production" });

    const listed = await json<{
      items: { releaseId: string; author?: string; channels: { name: string; state: string }[] }[];
    }>(["get", "releases", "--application", "wait"]);
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]).toMatchObject({
      releaseId: id,
      author: "alice",
      channels: [
        { name: "staging", state: "converged" },
        { name: "production", state: "converged" },
      ],
    });
    const created = (await ok(["events", "--release", id, "-o", "json"]))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(created[0]!.type).toBe("ReleaseCreated");
    expect(created.map((e) => e.type)).toContain("ChannelConverged");
  });

  it("approves a release waiting in production, after which watching it succeeds", async () => {
    await p.application("appr", approval);
    const id = (
      await ok([
        "release",
        "create",
        "--application",
        "appr",
        "--service",
        "appr-api",
        "--param",
        image("appr", "1.0.0"),
      ])
    ).trim();
    expect(await ok(["release", "watch", id, "--until", "staging", "--timeout", "1m"])).toContain(
      `release ${id} converged in staging`,
    );
    await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));

    const described = await ok(["describe", "release", id]);
    expect(described).toMatch(/^production\s+waiting$/m);
    expect(described).toMatch(/manualApproval:approval\s+blocked\s+waiting for approval/);
    const asJson = await json<{ createdAt: string; channels: { name: string; state: string }[] }>([
      "describe",
      "release",
      id,
    ]);
    expect(asJson.channels.map((c) => [c.name, c.state])).toEqual([
      ["staging", "converged"],
      ["production", "waiting"],
    ]);

    expect(await ok(["approve", id, "--channel", "production", "--comment", "ship it"])).toBe(
      `approval "approval" of ${id} in production: approved (1 of 1: admin)\n`,
    );
    expect(await ok(["release", "watch", id, "--timeout", "1m"])).toContain(`release ${id} converged in production`);
  });

  it("exits non-zero with the reason when a watched release is abandoned, and 3 when it times out", async () => {
    await p.application("aban", approval);
    const id = (
      await ok([
        "release",
        "create",
        "--application",
        "aban",
        "--service",
        "aban-api",
        "--param",
        image("aban", "1.0.0"),
      ])
    ).trim();
    await eventually(async () => (await p.releaseEvents(id)).some((e) => e.type === "ApprovalRequested"));

    const timedOut = await slipway(["release", "watch", id, "--timeout", "1s"]);
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toMatch(
      new RegExp(
        `^error: release ${id} did not converge in production within 1s: production waiting: .*waiting for approval`,
      ),
    );

    const watching = slipway(["release", "watch", id]);
    await eventually(async () =>
      (await ok(["get", "releases", "--application", "aban", "--state", "waiting", "-o", "json"])).includes(id),
    );
    expect(await ok(["abandon", id, "--reason", "wrong build"])).toBe(`release ${id} abandoned\n`);
    expect(await ok(["abandon", id])).toBe(`release ${id} was abandoned already (nothing changed)\n`);
    const watched = await watching;
    expect(watched.code).toBe(1);
    expect(watched.stderr.trim()).toBe(`error: release ${id} was abandoned`);
    expect(watched.stdout).toMatch(/^staging\s+converged$/m);
  });

  it("runs the operator commands: pause until a time and resume, mark bad", async () => {
    await p.application("ops");
    const paused = await ok(["pause", "ops", "--channel", "production", "--until", "1h", "--reason", "incident"]);
    expect(paused).toMatch(/^ops\/production paused until \d{4}-/);
    await eventually(async () => (await p.api("/v1/applications/ops")).body.channels !== undefined);
    await eventually(async () =>
      ((await p.api("/v1/applications/ops")).body.channels as { name: string; paused?: { reason?: string } }[]).some(
        (c) => c.name === "production" && c.paused?.reason === "incident",
      ),
    );
    expect(await ok(["resume", "ops", "--channel", "production"])).toBe("ops/production resumed\n");
    const id = (
      await ok(["release", "create", "--application", "ops", "--service", "ops-api", "--param", image("ops", "1.0.0")])
    ).trim();
    const bad = await json<{ changed: boolean; rolledBack: unknown[] }>(["mark-bad", id, "--reason", "corrupts carts"]);
    expect(bad.changed).toBe(true);
    const watched = await slipway(["release", "watch", id]);
    expect(watched.code).toBe(1);
    expect(watched.stderr.trim()).toBe(`error: release ${id} was marked bad: corrupts carts`);
  });
});

describe("runtimes", () => {
  it("links a runtime, printing the agent's YAML, and waits until its agent has registered", async () => {
    await p.apply([{ runtime: { name: "k8s-edge", kubernetes: {} } }]);
    const notYet = await slipway(["runtime", "wait", "k8s-edge", "--linked", "--timeout", "1s"]);
    expect(notYet.code).toBe(3);
    expect(notYet.stderr).toContain("no agent registered for runtime k8s-edge within 1s (not linked yet");

    const linked = await slipway(["runtime", "link", "k8s-edge", "--namespace", "edge-agent"]);
    expect(linked.code).toBe(0);
    expect(linked.stdout).toMatch(/^kind: Namespace\nmetadata:\n {2}name: edge-agent$/m);
    expect(linked.stderr).toContain("runtime k8s-edge linked");
    const token = /SLIPWAY_AGENT_TOKEN: "?([^"\s]+)"?/.exec(linked.stdout)?.[1];
    expect(token, linked.stdout).toBeDefined();

    const waiting = slipway(["runtime", "wait", "k8s-edge", "--linked", "--timeout", "1m"]);
    const agent = new FakeAgent(p.stack.wsUrl, "k8s-edge", token!);
    agents.push(agent);
    await agent.connect();
    const waited = await waiting;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toBe("runtime k8s-edge: agent 1.0.0 connected\n");
  });

  it("rotates a token with an overlap, printing the commands that hand the agent the new one, and revokes", async () => {
    await p.apply([{ runtime: { name: "k8s-turn", kubernetes: { management: "external" } } }]);
    const first = (await p.api("/v1/runtimes/k8s-turn/link", { method: "POST" })).body.token as string;
    const agent = new FakeAgent(p.stack.wsUrl, "k8s-turn", first);
    agents.push(agent);
    await agent.connect();

    expect((await slipway(["runtime", "rotate-token", "k8s-turn", "--overlap", "soon"])).code).toBe(2);
    const rotated = await slipway(["runtime", "rotate-token", "k8s-turn", "--overlap", "30m"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const [patch, restart, ...rest] = rotated.stdout.trimEnd().split("\n");
    expect(patch).toMatch(
      /^kubectl patch secret slipway-agent-k8s-turn -n slipway-agent --type merge -p '\{"stringData":\{"SLIPWAY_AGENT_TOKEN":"slwa_[\w-]+"\}\}'$/,
    );
    expect(restart).toBe("kubectl rollout restart deployment/slipway-agent-k8s-turn -n slipway-agent");
    expect(rest).toEqual([]);
    expect(rotated.stderr).toContain("the previous token is accepted until");

    const described = await ok(["describe", "runtime", "k8s-turn"]);
    expect(described).toMatch(/^Agent:\s+1\.0\.0 \(lease \d+\) — upgrade available: \d+\.\d+\.\d+$/m);
    expect(described).toMatch(/^Management:\s+external/m);
    expect(described).toMatch(/^Token:\s+rotated .*; the previous token is accepted until \S+ \(in \w+\)$/m);
    expect(await ok(["get", "runtimes"])).toMatch(/^k8s-turn\s+kubernetes\s+yes\s+connected\s+1\.0\.0 \(upgrade: /m);

    expect(await ok(["runtime", "revoke", "k8s-turn", "--previous"])).toBe(
      "runtime k8s-turn: the previous agent token is revoked; only the current one is accepted; its agent was disconnected\n",
    );
    expect(await ok(["runtime", "revoke", "k8s-turn", "--previous"])).toBe(
      "runtime k8s-turn: no rotation's overlap is running (nothing changed)\n",
    );
    expect(await json<object>(["runtime", "revoke", "k8s-turn"])).toMatchObject({ scope: "all", changed: true });
    const again = await slipway(["runtime", "rotate-token", "k8s-turn"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: 409 runtime\.not_linked: /);
  });
});

describe("secrets", () => {
  it("sets a secret from standard input, lists it without its value, and deletes it", async () => {
    expect(await ok(["secret", "set", "cli-hook"], { stdin: "piped-secret-value-0123\n" })).toBe(
      "secret cli-hook set\n",
    );
    const listed = await ok(["get", "secrets"]);
    expect(listed).toMatch(/^NAME\s+UPDATED\s+BY\n/);
    expect(listed).toMatch(/cli-hook\s+.*admin/);
    expect(listed).not.toContain("piped-secret-value-0123");
    const secrets = await json<{ items: { name: string }[] }>(["get", "secrets"]);
    expect(secrets.items.map((i) => i.name)).toContain("cli-hook");
    // The value kept is what was piped, without the newline echo adds: it is what signatures use.
    const store = new SecretStore(
      documentClient({ endpoint: p.stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
      p.stack.tables.secrets,
    );
    expect(await store.value("cli-hook")).toBe("piped-secret-value-0123");
    expect(await ok(["secret", "delete", "cli-hook"])).toBe("secret cli-hook deleted\n");
    const again = await slipway(["secret", "delete", "cli-hook"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no secret is named cli-hook");
  });
});

describe("failures a person reads", () => {
  it("answers an unknown flag or a bad value with one line and the usage, exit code 2", async () => {
    const unknown = await slipway(["get", "releases", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      `error: unknown option '--bogus'\nusage: slipway get [options] <kind>\n(see "slipway get --help")\n`,
    );
    const bad = await slipway(["release", "watch", "rel-x", "--timeout", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe(
      "error: option '--timeout <duration>' argument 'soon' is invalid. must be a duration such as 30s, 5m or 1h30m.",
    );
    const param = await slipway(["release", "create", "--application", "a", "--service", "s", "--param", "noequals"]);
    expect(param.code).toBe(2);
    const usage = await slipway(["runtime", "wait", "k8s-staging"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr.split("\n")[0]).toBe("error: say what to wait for: --linked");
  });

  it("says in one line that the server cannot be reached, exit code 1", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await slipway(["get", "runtimes"], { env: { SLIPWAY_URL: url } });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: cannot reach ${url}: connection refused (is the server running?)\n`);
  });

  it("answers --help with examples and --version with the package's version", async () => {
    expect(await ok(["apply", "--help"])).toContain("Examples:\n  $ slipway apply -f applications/");
    const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
    expect(await ok(["--version"])).toBe(`${version}\n`);
  });
});
