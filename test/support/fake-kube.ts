import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A Kubernetes API server small enough to read, for the agent's tests (there is no cluster here):
 * discovery, server-side apply (PATCH application/apply-patch+yaml, merging lists of named items by
 * name as the real one does for containers), reads, watches by name, pod lists and logs, with two
 * controllers — Deployments roll out after `rolloutMs`, Jobs finish after `jobMs` (failing when
 * `failJobs` names them) with a pod whose log is `jobLog`. It speaks HTTP with a bearer token, as
 * the agent's kubeconfig says.
 */

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  [field: string]: unknown;
};
type Resource = { name: string; kind: string; namespaced: boolean };
export type Call = { method: string; path: string; fieldManager?: string; force?: string; body?: Obj };

const RESOURCES: Record<string, Resource[]> = {
  v1: [
    { name: "namespaces", kind: "Namespace", namespaced: false },
    { name: "configmaps", kind: "ConfigMap", namespaced: true },
    { name: "services", kind: "Service", namespaced: true },
    { name: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
    { name: "secrets", kind: "Secret", namespaced: true },
    { name: "pods", kind: "Pod", namespaced: true },
  ],
  "apps/v1": [
    { name: "deployments", kind: "Deployment", namespaced: true },
    { name: "statefulsets", kind: "StatefulSet", namespaced: true },
  ],
  "batch/v1": [{ name: "jobs", kind: "Job", namespaced: true }],
};

export class FakeKube {
  readonly uid: string;
  readonly token = `fake-${randomUUID()}`;
  gitVersion = "v1.31.2";
  /** How long a Deployment takes to roll out after an apply. */
  rolloutMs = 0;
  /** How long a Job runs. */
  jobMs = 0;
  /** Jobs (by name) that fail. */
  failJobs = new Set<string>();
  jobLog = "job output";
  readonly calls: Call[] = [];
  private readonly objects = new Map<string, Obj>();
  private readonly watchers = new Set<{ prefix: string; name?: string; res: ServerResponse }>();
  private version = 1;
  private server?: Server;
  url = "";

  constructor(uid: string = randomUUID()) {
    this.uid = uid;
    this.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-system", uid } });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => this.handle(req, res, body));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** A kubeconfig for this server whose context's namespace is `namespace` (the agent's own). */
  writeKubeconfig(path: string, namespace = "slipway-agent", token = this.token): string {
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        // Plain HTTP: the client allows it only with TLS verification off.
        clusters: [{ name: "fake", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "agent", user: { token } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "agent", namespace } }],
        "current-context": "fake",
      }),
    );
    return path;
  }

  get(apiVersion: string, kind: string, name: string, namespace?: string): Obj | undefined {
    const resource = RESOURCES[apiVersion]?.find((r) => r.kind === kind);
    return resource && this.objects.get(key(apiVersion, resource.name, namespace, name));
  }

  /** Creates an object as someone with kubectl create would. */
  create(o: Obj): Obj {
    return this.put(structuredClone(o));
  }

  /** Changes an object as someone with kubectl edit would, telling its watchers. */
  edit(apiVersion: string, kind: string, name: string, namespace: string, change: (o: Obj) => void): void {
    const o = this.get(apiVersion, kind, name, namespace);
    if (!o) throw new Error(`no ${kind} ${namespace}/${name}`);
    change(o);
    this.put(o);
  }

  /** The server-side applies, as `<kind> <namespace>/<name>`. */
  applies(kind?: string): Call[] {
    return this.calls.filter((c) => c.method === "PATCH" && (!kind || c.body?.kind === kind));
  }

  private put(o: Obj): Obj {
    const resource = RESOURCES[o.apiVersion]!.find((r) => r.kind === o.kind)!;
    o.metadata.resourceVersion = String(++this.version);
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= new Date().toISOString();
    const k = key(o.apiVersion, resource.name, o.metadata.namespace, o.metadata.name);
    const existed = this.objects.has(k);
    this.objects.set(k, o);
    for (const w of this.watchers)
      if (k.startsWith(w.prefix) && (!w.name || w.name === o.metadata.name))
        w.res.write(`${JSON.stringify({ type: existed ? "MODIFIED" : "ADDED", object: o })}\n`);
    return o;
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): unknown {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const call: Call = { method, path: url.pathname };
    if (url.searchParams.has("fieldManager")) call.fieldManager = url.searchParams.get("fieldManager")!;
    if (url.searchParams.has("force")) call.force = url.searchParams.get("force")!;
    if (body) call.body = JSON.parse(body) as Obj;
    this.calls.push(call);
    const json = (status: number, value: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    const status = (code: number, reason: string, message: string) =>
      json(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code });
    if (req.headers.authorization !== `Bearer ${this.token}`) return status(401, "Unauthorized", "Unauthorized");

    if (url.pathname === "/version") return json(200, { major: "1", minor: "31", gitVersion: this.gitVersion });
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(url.pathname);
    if (discovery) {
      const gv = discovery[1] ?? discovery[2]!;
      const resources = RESOURCES[gv];
      if (!resources) return status(404, "NotFound", `the server could not find the requested resource`);
      return json(200, {
        kind: "APIResourceList",
        groupVersion: gv,
        resources: resources.map((r) => ({ ...r, singularName: "", verbs: ["get", "list", "watch", "patch"] })),
      });
    }
    const prefixMatch = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/(.+)$/.exec(url.pathname);
    if (!prefixMatch) return status(404, "NotFound", `no route ${url.pathname}`);
    const gv = prefixMatch[1] ?? prefixMatch[2]!;
    const segments = prefixMatch[3]!.split("/");
    // namespaces/<ns>/<plural>[/<name>[/log]] or <plural>[/<name>] (cluster-scoped: namespaces/<name>)
    const inNamespace = segments[0] === "namespaces" && segments.length >= 3;
    const [ns, plural, name, sub] = inNamespace
      ? [segments[1], segments[2]!, segments[3], segments[4]]
      : [undefined, segments[0]!, segments[1], undefined];
    const resource = RESOURCES[gv]?.find((r) => r.name === plural);
    if (!resource) return status(404, "NotFound", `the server could not find the requested resource (${plural})`);
    const k = key(gv, plural, resource.namespaced ? ns : undefined, name);

    if (sub === "log") return res.writeHead(200, { "content-type": "text/plain" }).end(this.jobLog);
    if (method === "GET" && !name) {
      const prefix = key(gv, plural, resource.namespaced ? ns : undefined, "");
      const fieldName = /^metadata\.name=(.+)$/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
      if (url.searchParams.get("watch") === "true") {
        res.writeHead(200, { "content-type": "application/json" }).flushHeaders();
        const watcher = { prefix, ...(fieldName ? { name: fieldName } : {}), res };
        this.watchers.add(watcher);
        res.on("close", () => this.watchers.delete(watcher));
        // Anything newer than the version the watcher read is sent at once.
        const since = Number(url.searchParams.get("resourceVersion") ?? 0);
        for (const [objectKey, o] of this.objects)
          if (
            objectKey.startsWith(prefix) &&
            (!fieldName || o.metadata.name === fieldName) &&
            Number(o.metadata.resourceVersion) > since
          )
            res.write(`${JSON.stringify({ type: "MODIFIED", object: o })}\n`);
        return;
      }
      const label = /^([^=]+)=(.+)$/.exec(url.searchParams.get("labelSelector") ?? "");
      const items = [...this.objects.entries()]
        .filter(([objectKey]) => objectKey.startsWith(prefix))
        .map(([, o]) => o)
        .filter((o) => !label || o.metadata.labels?.[label[1]!] === label[2]);
      return json(200, { kind: `${resource.kind}List`, apiVersion: gv, metadata: {}, items });
    }
    if (method === "GET") {
      const o = this.objects.get(k);
      return o ? json(200, o) : status(404, "NotFound", `${plural} "${name}" not found`);
    }
    if (method === "PATCH" && req.headers["content-type"] === "application/apply-patch+yaml") {
      if (!url.searchParams.get("fieldManager"))
        return status(422, "Invalid", "fieldManager is required for apply requests");
      const patch = JSON.parse(body) as Obj;
      const before = this.objects.get(k);
      const merged = (before ? merge(structuredClone(before), patch) : patch) as Obj;
      const specChanged = JSON.stringify(before?.spec) !== JSON.stringify(merged.spec);
      merged.metadata.generation = ((before?.metadata.generation as number | undefined) ?? 0) + (specChanged ? 1 : 0);
      if (resource.kind === "Deployment" && specChanged) this.rollOut(merged);
      if (resource.kind === "Job" && !before) this.runJob(merged);
      return json(before ? 200 : 201, this.put(merged));
    }
    return status(405, "MethodNotAllowed", `${method} is not served here`);
  }

  private rollOut(d: Obj): void {
    const replicas = (d.spec?.replicas as number | undefined) ?? 1;
    const generation = d.metadata.generation;
    d.status = { ...d.status, observedGeneration: generation, updatedReplicas: 0, replicas };
    setTimeout(() => {
      const now = this.get(d.apiVersion, d.kind, d.metadata.name, d.metadata.namespace);
      if (!now || now.metadata.generation !== generation) return;
      now.status = {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      };
      this.put(now);
    }, this.rolloutMs);
  }

  private runJob(j: Obj): void {
    const { name, namespace } = j.metadata;
    this.put({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `${name}-${randomUUID().slice(0, 5)}`, namespace: namespace!, labels: { "job-name": name } },
    });
    j.status = { active: 1 };
    setTimeout(() => {
      const now = this.get(j.apiVersion, j.kind, name, namespace);
      if (!now) return;
      const failed = this.failJobs.has(name);
      now.status = {
        ...(failed ? { failed: 1 } : { succeeded: 1 }),
        conditions: [
          failed
            ? {
                type: "Failed",
                status: "True",
                reason: "BackoffLimitExceeded",
                message: "Job has reached the specified backoff limit",
              }
            : { type: "Complete", status: "True" },
        ],
      };
      this.put(now);
    }, this.jobMs);
  }
}

function key(gv: string, plural: string, namespace: string | undefined, name: string | undefined): string {
  return `${gv}|${plural}|${namespace ?? ""}|${name ?? ""}`;
}

/** Server-side apply's merge, as far as the tests need it: maps deep, lists of named items by name. */
function merge(target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) {
    if (!Array.isArray(target) || !patch.every((p) => p && typeof p === "object" && "name" in p)) return patch;
    const out = [...(target as { name: string }[])];
    for (const item of patch as { name: string }[]) {
      const i = out.findIndex((t) => t.name === item.name);
      if (i >= 0) out[i] = merge(out[i], item) as { name: string };
      else out.push(item);
    }
    return out;
  }
  if (patch && typeof patch === "object" && target && typeof target === "object" && !Array.isArray(target)) {
    const out = { ...(target as Record<string, unknown>) };
    for (const [k, v] of Object.entries(patch)) out[k] = merge(out[k], v);
    return out;
  }
  return patch;
}
