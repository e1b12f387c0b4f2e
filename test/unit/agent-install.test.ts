import { Deployment } from "kubernetes-models/apps/v1";
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, ServiceAccount } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { AGENT_PROBE_PORT, AGENT_UID, agentInstallManifest, type AgentInstallInput } from "../../core/index.js";

/** The install YAML the link call hands out: what Kubernetes will run, and how it checks on it. */
type K8s = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};
const BASE = { runtime: "k8s-staging", token: "slwa_x", serverUrl: "wss://s/l" };
const objects = (input: Partial<AgentInstallInput> = {}) =>
  parseAllDocuments(agentInstallManifest({ ...BASE, ...input })).map((d) => d.toJS() as K8s);

type Container = {
  name: string;
  env: { name: string; value: string }[];
  envFrom: unknown[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
};
type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: ({ name: string } & Record<string, unknown>)[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
};
const podOf = (all: K8s[]) =>
  (all.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

/** The schema of every kind the install YAML holds, from kubernetes-models (the API's OpenAPI schemas). */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Secret": Secret,
  "v1/ConfigMap": ConfigMap,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/Deployment": Deployment,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
};

/**
 * The Pod Security Standards' "restricted" profile, as the admission controller checks it
 * (kubernetes.io/docs/concepts/security/pod-security-standards): each rule a sentence, empty when met.
 */
function restrictedViolations(pod: PodSpec): string[] {
  const problems: string[] = [];
  const allowedVolumes = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim"];
  allowedVolumes.push("projected", "secret");
  for (const v of pod.volumes)
    for (const type of Object.keys(v).filter((k) => k !== "name"))
      if (!allowedVolumes.includes(type)) problems.push(`volume ${v.name} is of type ${type}`);
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push("host namespaces are shared");
  for (const c of pod.containers) {
    const sc = c.securityContext;
    const runAsNonRoot = sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot;
    if (runAsNonRoot !== true) problems.push(`${c.name}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? pod.securityContext.runAsUser) === 0) problems.push(`${c.name}: runs as uid 0`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if (sc.privileged) problems.push(`${c.name}: privileged`);
    const caps = sc.capabilities as { drop?: string[]; add?: string[] } | undefined;
    if (!caps?.drop?.includes("ALL")) problems.push(`${c.name}: capabilities are not dropped (ALL)`);
    if ((caps?.add ?? []).some((cap) => cap !== "NET_BIND_SERVICE")) problems.push(`${c.name}: adds capabilities`);
    const seccomp = (sc.seccompProfile ?? pod.securityContext.seccompProfile) as { type?: string } | undefined;
    if (!["RuntimeDefault", "Localhost"].includes(seccomp?.type ?? ""))
      problems.push(`${c.name}: seccomp profile is not RuntimeDefault or Localhost`);
  }
  return problems;
}

/** Every combination of options the link call offers. */
const VARIANTS: [string, Partial<AgentInstallInput>][] = [
  ["the defaults", {}],
  ["the namespaced profile over listed namespaces", { rbac: "namespaced", namespaces: ["shop", "payments"] }],
  ["the cluster profile", { rbac: "cluster" }],
  ["ephemeral state", { state: "ephemeral" }],
  ["state in a ConfigMap", { state: "configmap" }],
  ["an externally managed agent with state in a ConfigMap", { management: "external", state: "configmap" }],
  ["an externally managed agent", { management: "external" }],
  ["a CA bundle from a Secret", { caBundle: { secret: "corp-ca" } }],
  ["a CA bundle from a ConfigMap, and a proxy", { caBundle: { configMap: "corp-ca" }, httpsProxy: "http://p:3128" }],
  ["another namespace and image", { namespace: "ops", image: "registry.example.com/slipway/agent:1.1.0" }],
];

describe("the agent's install YAML", () => {
  const pod = podOf(objects());
  const agent = pod.containers[0]!;

  it.each(VARIANTS)("is valid Kubernetes, object by object, with %s", (_, input) => {
    for (const o of objects(input)) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new Model!(o as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it.each(VARIANTS)("meets the Pod Security 'restricted' profile with %s", (_, input) => {
    expect(restrictedViolations(podOf(objects(input)))).toEqual([]);
  });

  it("fails the schema and the restricted checks where it should (the checks can fail)", () => {
    const broken = { ...objects().find((o) => o.kind === "Role")!, rules: [{ verbs: "get" }] };
    expect(() => new Role(broken as never).validate()).toThrow();
    const rooted = structuredClone(pod);
    rooted.containers[0]!.securityContext = { runAsUser: 0 };
    rooted.securityContext = {};
    rooted.volumes.push({ name: "host", hostPath: { path: "/" } });
    expect(restrictedViolations(rooted)).toEqual([
      "volume host is of type hostPath",
      "agent: runAsNonRoot is not true",
      "agent: runs as uid 0",
      "agent: allowPrivilegeEscalation is not false",
      "agent: capabilities are not dropped (ALL)",
      "agent: seccomp profile is not RuntimeDefault or Localhost",
    ]);
  });

  it("probes the agent: alive at /healthz, ready at /readyz, on the port it is told to serve them", () => {
    expect(agent.env).toContainEqual({ name: "SLIPWAY_PROBE_PORT", value: String(AGENT_PROBE_PORT) });
    expect(agent.ports).toEqual([{ name: "probes", containerPort: AGENT_PROBE_PORT }]);
    expect(agent.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "probes" });
    expect(agent.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "probes" });
  });

  it("runs as the image's numeric non-root user, read-only, with nothing it does not need", () => {
    expect(agent.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: AGENT_UID,
      runAsGroup: AGENT_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    // The state volume is writable by that user: its group owns it.
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, fsGroup: AGENT_UID });
    // What it writes goes to volumes: its state, and scratch space under /tmp.
    expect(pod.volumes.map((v) => v.name).sort()).toEqual(["state", "tmp"]);
  });

  it("keeps what the agent applied on a volume claim that outlives the pod, or on an emptyDir when asked", () => {
    const claim = objects().find((o) => o.kind === "PersistentVolumeClaim")!;
    expect(claim.metadata.name).toBe("slipway-agent-k8s-staging");
    expect(pod.volumes.find((v) => v.name === "state")).toEqual({
      name: "state",
      persistentVolumeClaim: { claimName: "slipway-agent-k8s-staging" },
    });
    const ephemeral = objects({ state: "ephemeral" });
    expect(ephemeral.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    expect(podOf(ephemeral).volumes.find((v) => v.name === "state")).toEqual({ name: "state", emptyDir: {} });
  });

  it("grants the namespaced profile a Role in its own namespace and each listed one, and no ClusterRole to apply", () => {
    const all = objects({ namespaces: ["shop", "payments"], management: "external" });
    const roles = all.filter((o) => o.kind === "Role").map((o) => o.metadata.namespace);
    expect(roles).toEqual(["slipway-agent", "shop", "payments"]);
    const bindings = all.filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => [b.metadata.namespace, (b.roleRef as { name: string }).name])).toEqual([
      ["slipway-agent", "slipway-agent-k8s-staging"],
      ["shop", "slipway-agent-k8s-staging"],
      ["payments", "slipway-agent-k8s-staging"],
    ]);
    // Cluster-wide it may read one thing: the kube-system namespace, which names the cluster.
    const clusterRoles = all.filter((o) => o.kind === "ClusterRole");
    expect(clusterRoles.map((r) => r.rules)).toEqual([
      [{ apiGroups: [""], resources: ["namespaces"], resourceNames: ["kube-system"], verbs: ["get"] }],
    ]);
    // No Secrets, no RBAC objects of its own to grant.
    const resources = all.filter((o) => o.kind === "Role").flatMap((r) => r.rules as { resources: string[] }[]);
    expect(resources.flatMap((r) => r.resources)).not.toContain("secrets");
  });

  it("grants the cluster profile one ClusterRole over every namespace instead of Roles", () => {
    const all = objects({ rbac: "cluster", namespaces: ["shop"], management: "external" });
    expect(all.some((o) => o.kind === "Role" || o.kind === "RoleBinding")).toBe(false);
    const role = all.find((o) => o.kind === "ClusterRole" && o.metadata.name === "slipway-agent-k8s-staging")!;
    const rules = role.rules as { resources: string[]; verbs: string[] }[];
    expect(rules.flatMap((r) => r.resources)).toEqual(expect.arrayContaining(["namespaces", "deployments", "jobs"]));
    expect(rules.flatMap((r) => r.resources)).not.toContain("secrets");
  });

  it("lets a managed runtime's agent set its own Deployment's image, and an external one nothing of its own", () => {
    const self = (input: Partial<AgentInstallInput>) =>
      objects(input).find((o) => o.kind === "Role" && o.metadata.name === "slipway-agent-k8s-staging-self");
    for (const rbac of ["namespaced", "cluster"] as const) {
      expect(self({ rbac })?.rules).toEqual([
        {
          apiGroups: ["apps"],
          resources: ["deployments"],
          resourceNames: ["slipway-agent-k8s-staging"],
          verbs: ["get", "patch"],
        },
      ]);
      expect(podOf(objects({ rbac })).containers[0]!.env).toEqual(
        expect.arrayContaining([
          { name: "SLIPWAY_DEPLOYMENT", value: "slipway-agent-k8s-staging" },
          { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        ]),
      );
    }
    expect(self({ management: "external" })).toBeUndefined();
    const external = podOf(objects({ management: "external" })).containers[0]!.env as { name: string }[];
    expect(external.map((e) => e.name)).not.toContain("SLIPWAY_DEPLOYMENT");
  });

  it("keeps the agent's state in a ConfigMap it may read and patch, that one only, when asked", () => {
    const all = objects({ state: "configmap", management: "external" });
    const configMap = all.find((o) => o.kind === "ConfigMap")!;
    expect(configMap.metadata).toMatchObject({ name: "slipway-agent-k8s-staging-state", namespace: "slipway-agent" });
    // No data: applying the YAML again leaves what the agent wrote.
    expect(configMap).not.toHaveProperty("data");
    expect(all.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    const self = all.find((o) => o.kind === "Role" && o.metadata.name === "slipway-agent-k8s-staging-self")!;
    expect(self.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: ["slipway-agent-k8s-staging-state"],
        verbs: ["get", "patch"],
      },
    ]);
    const binding = all.find((o) => o.kind === "RoleBinding" && o.metadata.name === "slipway-agent-k8s-staging-self")!;
    expect(binding.roleRef).toMatchObject({ kind: "Role", name: "slipway-agent-k8s-staging-self" });
    const env = podOf(all).containers[0]!.env as { name: string; value?: string }[];
    expect(env).toContainEqual({ name: "SLIPWAY_STATE_CONFIGMAP", value: "slipway-agent-k8s-staging-state" });
    expect(env.map((e) => e.name)).not.toContain("SLIPWAY_STATE_FILE");
  });

  it("trusts an extra CA from a Secret or a ConfigMap, and reaches Slipway through a proxy", () => {
    const fromSecret = podOf(objects({ caBundle: { secret: "corp-ca" } }));
    expect(fromSecret.volumes.find((v) => v.name === "ca")).toEqual({
      name: "ca",
      secret: { secretName: "corp-ca", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
    expect(fromSecret.containers[0]!.volumeMounts).toContainEqual({
      name: "ca",
      mountPath: "/etc/slipway/ca",
      readOnly: true,
    });
    expect(fromSecret.containers[0]!.env).toContainEqual({
      name: "NODE_EXTRA_CA_CERTS",
      value: "/etc/slipway/ca/ca.crt",
    });
    const fromConfigMap = podOf(objects({ caBundle: { configMap: "corp-ca" } }));
    expect(fromConfigMap.volumes.find((v) => v.name === "ca")).toMatchObject({ configMap: { name: "corp-ca" } });

    const proxied = objects({ httpsProxy: "http://proxy.internal:3128" }).find((o) => o.kind === "Secret")!;
    expect(proxied.stringData).toMatchObject({ SLIPWAY_HTTPS_PROXY: "http://proxy.internal:3128" });
    expect(objects().find((o) => o.kind === "Secret")!.stringData).not.toHaveProperty("SLIPWAY_HTTPS_PROXY");
  });

  it("names every object after its runtime, so two runtimes' agents share a cluster and a namespace", () => {
    const a = objects({ runtime: "k8s-eu" });
    const b = objects({ runtime: "k8s-us" });
    const key = (o: K8s) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    // Only the namespace they share is the same object.
    expect(a.map(key).filter((k) => b.map(key).includes(k))).toEqual(["Namespace//slipway-agent"]);
    const deploymentOf = (objects: K8s[]) =>
      objects.find((o) => o.kind === "Deployment") as K8s & { spec: { selector: { matchLabels: object } } };
    expect(deploymentOf(a).metadata.name).toBe("slipway-agent-k8s-eu");
    expect(deploymentOf(a).spec.selector.matchLabels).toEqual({
      "app.kubernetes.io/name": "slipway-agent",
      "app.kubernetes.io/instance": "k8s-eu",
    });
    expect(deploymentOf(b).spec.selector.matchLabels).toMatchObject({ "app.kubernetes.io/instance": "k8s-us" });
  });
});
