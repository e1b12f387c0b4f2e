import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  VersionApi,
  Watch,
  type KubernetesObject,
  type V1Deployment,
  type V1Job,
} from "@kubernetes/client-node";

/**
 * The agent's one way into its cluster: the Kubernetes API server, through the official client
 * (@kubernetes/client-node) — server-side apply, reads, watches, pod logs. No kubectl: the image
 * holds node and the agent's bundle only. In a pod it authenticates as its service account; outside
 * one it reads a kubeconfig (`--kubeconfig`, `KUBECONFIG`, or ~/.kube/config).
 */

export type Outcome = { status: "succeeded" | "failed"; message: string };
export type ClusterIdentity = { id: string; serverVersion?: string };
/** What a Deployment runs now, as the API server has it. */
export type DeploymentHealth = { images: string[]; healthy: boolean };
export type Manifest = KubernetesObject & Record<string, unknown>;

/** What the agent's server-side applies are recorded as (`kubectl get -o yaml --show-managed-fields`). */
export const FIELD_MANAGER = "slipway-agent";
/** How much of a Job's log the agent reports: its last lines, within the report's limit. */
const LOG_TAIL_LINES = 40;
/** How much of a task's output a report carries (its tail). */
export const OUTPUT_TAIL = 4000;

/** The generic object client, with the resource discovery it already does (and caches) opened up. */
class Objects extends KubernetesObjectApi {
  /** Whether the API server serves this kind, and whether it is namespaced. */
  served(apiVersion: string, kind: string): Promise<{ namespaced: boolean } | undefined> {
    return this.resource(apiVersion, kind);
  }
}

export class Cluster {
  private readonly objects: Objects;
  private readonly core: CoreV1Api;
  private readonly batch: BatchV1Api;
  private readonly version: VersionApi;
  private readonly watcher: Watch;
  /** Where objects that name no namespace go: the agent's own (the service account's), as kubectl does. */
  readonly namespace: string;

  constructor(kubeconfig?: string) {
    const kc = new KubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    this.objects = kc.makeApiClient(Objects);
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.version = kc.makeApiClient(VersionApi);
    this.watcher = new Watch(kc);
    this.namespace = kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
  }

  /** The kube-system namespace's UID (unique per cluster, stable for its life) and the API server's version. */
  async identity(): Promise<ClusterIdentity> {
    const ns = await this.core.readNamespace({ name: "kube-system" });
    const id = ns.metadata?.uid ?? "";
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id)) throw new Error(`kube-system has no usable UID ("${id}")`);
    let serverVersion: string | undefined;
    try {
      serverVersion = (await this.version.getCode()).gitVersion;
    } catch {
      serverVersion = undefined; // the version is informative; the UID is what pins
    }
    return { id, ...(serverVersion && serverVersion.length <= 64 ? { serverVersion } : {}) };
  }

  /**
   * Server-side applies each object in order (field manager `slipway-agent`, forcing ownership of
   * the fields it sets, as `kubectl apply --server-side --force-conflicts` does). Objects that name
   * no namespace go to `namespace`, else the agent's own.
   */
  async apply(manifests: Manifest[], namespace = this.namespace): Promise<Manifest[]> {
    const applied: Manifest[] = [];
    for (const manifest of manifests) {
      const object = structuredClone(manifest);
      const kind = `${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
      if (!object.metadata?.namespace) {
        const resource = await this.objects.served(object.apiVersion ?? "v1", object.kind ?? "").catch((err) => {
          if (err instanceof ApiException && err.code === 404) return undefined;
          throw new Error(`${kind}: ${describeError(err)}`);
        });
        if (!resource) throw new Error(`${kind}: the API server does not serve ${object.apiVersion} ${object.kind}`);
        if (resource.namespaced) object.metadata = { ...object.metadata, namespace };
      }
      try {
        applied.push(
          await this.objects.patch<Manifest>(
            object,
            undefined,
            undefined,
            FIELD_MANAGER,
            true,
            PatchStrategy.ServerSideApply,
          ),
        );
      } catch (err) {
        throw new Error(`applying ${kind}: ${describeError(err)}`);
      }
    }
    return applied;
  }

  /** Waits, as `kubectl rollout status` does, until every replica of the Deployment runs its newest template. */
  rollout(name: string, namespace: string, timeoutMs: number): Promise<Outcome> {
    return this.until<V1Deployment>(
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      name,
      () => this.read<V1Deployment>("apps/v1", "Deployment", name, namespace),
      rolloutOutcome,
      timeoutMs,
      (d) => `deployment/${name}: ${rolloutProgress(d)}`,
    );
  }

  /** Waits until the Job completes or fails, and says how with the last lines of its pod's log. */
  async job(name: string, namespace: string, timeoutMs: number): Promise<Outcome> {
    const outcome = await this.until<V1Job>(
      `/apis/batch/v1/namespaces/${namespace}/jobs`,
      name,
      () => this.batch.readNamespacedJob({ name, namespace }),
      jobOutcome,
      timeoutMs,
      (j) => `job/${name}: ${j.status?.active ?? 0} active, ${j.status?.failed ?? 0} failed`,
    );
    const log = await this.jobLog(name, namespace);
    return log ? { ...outcome, message: tail(`${outcome.message}\n${log}`) } : outcome;
  }

  /** What a Deployment runs now; undefined when it cannot be read (gone, or not allowed). */
  async deployment(name: string, namespace: string): Promise<DeploymentHealth | undefined> {
    try {
      const d = await this.read<V1Deployment>("apps/v1", "Deployment", name, namespace);
      const want = d.spec?.replicas ?? 1;
      return {
        images: (d.spec?.template.spec?.containers ?? []).flatMap((c) => (c.image ? [c.image] : [])),
        healthy: (d.status?.updatedReplicas ?? 0) >= want && (d.status?.availableReplicas ?? 0) >= want,
      };
    } catch {
      return undefined;
    }
  }

  /** One key of a ConfigMap; undefined when the ConfigMap or the key does not exist. */
  async configMapKey(name: string, namespace: string, key: string): Promise<string | undefined> {
    try {
      return (await this.core.readNamespacedConfigMap({ name, namespace })).data?.[key];
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw new Error(`reading configmap/${name} in ${namespace}: ${describeError(err)}`);
    }
  }

  /** Writes one key of a ConfigMap, owning only that key (server-side apply). */
  async writeConfigMapKey(name: string, namespace: string, key: string, value: string): Promise<void> {
    await this.apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data: { [key]: value } }]);
  }

  /**
   * Sets one container's image in a Deployment, owning only that field (its own field manager, so
   * re-applying the install YAML later does not fight it silently: the conflict shows).
   */
  async setImage(deployment: string, namespace: string, container: string, image: string): Promise<void> {
    const patch = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: deployment, namespace },
      spec: { template: { spec: { containers: [{ name: container, image }] } } },
    };
    try {
      await this.objects.patch(
        patch,
        undefined,
        undefined,
        `${FIELD_MANAGER}-upgrade`,
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (err) {
      throw new Error(`setting deployment/${deployment}'s image: ${describeError(err)}`);
    }
  }

  private read<T>(apiVersion: string, kind: string, name: string, namespace: string): Promise<T> {
    return this.objects.read({ apiVersion, kind, metadata: { name, namespace } }) as Promise<T>;
  }

  /**
   * Reads the object, then watches it (by name, from the version read) until `decide` says how it
   * ended or the time is up. A watch that ends or cannot start (no watch permission, an expired
   * resource version) is followed by a fresh read a second later: progress is never lost, only slower.
   */
  private async until<T extends KubernetesObject>(
    listPath: string,
    name: string,
    read: () => Promise<T>,
    decide: (object: T) => Outcome | undefined,
    timeoutMs: number,
    progress: (object: T) => string,
  ): Promise<Outcome> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let problem = "";
    for (;;) {
      try {
        last = await read();
        problem = "";
      } catch (err) {
        problem = describeError(err);
      }
      const decided = last && decide(last);
      if (decided) return decided;
      if (Date.now() >= deadline) break;
      if (last) {
        const watched = await this.watchUntil(listPath, name, last, decide, deadline, (o) => (last = o));
        if (watched) return watched;
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    const where = last ? progress(last) : `${name}: ${problem || "not found"}`;
    return { status: "failed", message: `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${where}` };
  }

  private watchUntil<T extends KubernetesObject>(
    listPath: string,
    name: string,
    from: T,
    decide: (object: T) => Outcome | undefined,
    deadline: number,
    seen: (object: T) => void,
  ): Promise<Outcome | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      let controller: AbortController | undefined;
      const settle = (outcome: Outcome | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        controller?.abort();
        resolve(outcome);
      };
      const timer = setTimeout(() => settle(undefined), Math.max(0, deadline - Date.now()));
      this.watcher
        .watch(
          listPath,
          {
            fieldSelector: `metadata.name=${name}`,
            ...(from.metadata?.resourceVersion ? { resourceVersion: from.metadata.resourceVersion } : {}),
          },
          (type: string, object: T) => {
            if (type === "DELETED") settle({ status: "failed", message: `${name} was deleted while the agent waited` });
            if (type !== "ADDED" && type !== "MODIFIED") return;
            seen(object);
            const decided = decide(object);
            if (decided) settle(decided);
          },
          () => settle(undefined),
        )
        .then(
          (c) => (settled ? c.abort() : (controller = c)),
          () => settle(undefined),
        );
    });
  }

  private async jobLog(job: string, namespace: string): Promise<string | undefined> {
    try {
      const pods = await this.core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}` });
      const newest = pods.items
        .filter((p) => p.metadata?.name)
        .sort((a, b) =>
          String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
        )
        .at(-1);
      if (!newest) return undefined;
      const log = await this.core.readNamespacedPodLog({
        name: newest.metadata!.name!,
        namespace,
        tailLines: LOG_TAIL_LINES,
      });
      return typeof log === "string" && log.trim() ? log.trim() : undefined;
    } catch {
      return undefined; // the outcome stands without its log
    }
  }
}

/** `kubectl rollout status`'s rule: observed, every replica updated and available, none old left; or the deadline passed. */
export function rolloutOutcome(d: V1Deployment): Outcome | undefined {
  const name = d.metadata?.name ?? "?";
  const stuck = d.status?.conditions?.find((c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded");
  if (stuck)
    return {
      status: "failed",
      message: `deployment/${name} exceeded its progress deadline: ${stuck.message ?? ""}`.trim(),
    };
  const s = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return undefined;
  if ((s.updatedReplicas ?? 0) < want || (s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return undefined;
  if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) return undefined;
  return { status: "succeeded", message: `rolled out ${name}` };
}

function rolloutProgress(d: V1Deployment): string {
  const s = d.status ?? {};
  return `${s.updatedReplicas ?? 0} of ${d.spec?.replicas ?? 1} replicas updated, ${s.availableReplicas ?? 0} available`;
}

/** A Job has ended when its Complete or Failed condition is true. */
export function jobOutcome(j: V1Job): Outcome | undefined {
  const name = j.metadata?.name ?? "?";
  const condition = (type: string) => j.status?.conditions?.find((c) => c.type === type && c.status === "True");
  const failed = condition("Failed");
  if (failed)
    return { status: "failed", message: `job/${name} failed: ${failed.reason ?? ""} ${failed.message ?? ""}`.trim() };
  if (condition("Complete")) return { status: "succeeded", message: `job/${name} completed` };
  return undefined;
}

/** What the API server said, in one line: its Status message when there is one. */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === "string" ? safeJson(err.body) : err.body;
    const message = (body as { message?: unknown } | undefined)?.message;
    return `${err.code} ${typeof message === "string" ? message : String(err.body ?? "").slice(0, 300)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

export function tail(text: string): string {
  return text.trim().slice(-OUTPUT_TAIL);
}
