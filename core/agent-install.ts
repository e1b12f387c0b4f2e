import { CURRENT_AGENT_VERSION, DEFAULT_AGENT_IMAGE_REPOSITORY, DEFAULT_AGENT_NAMESPACE } from "./agent-protocol.js";

/**
 * The Kubernetes YAML that runs a runtime's agent, like any cluster agent's install manifest: a
 * namespace, a service account with the least rights the agent needs, the token in a Secret, a
 * volume (or a ConfigMap) for what it has applied, and a single-replica Deployment that takes its
 * settings from that Secret. docs/agent-install.md describes every option.
 */
export type AgentInstallOptions = {
  /** Where the agent runs (default slipway-agent); several runtimes' agents may share it. */
  namespace?: string;
  image?: string;
  /**
   * `namespaced` (default): a Role in each namespace the runtime deploys to; `cluster`: one
   * ClusterRole over every namespace.
   */
  rbac?: "namespaced" | "cluster";
  /**
   * Where the agent keeps what it applied, so a new pod never applies an instruction twice: `pvc`
   * (default) a PersistentVolumeClaim; `configmap` a ConfigMap it writes through the API server (no
   * volume: for clusters without a storage class); `ephemeral` an emptyDir, lost with the pod.
   */
  state?: "pvc" | "configmap" | "ephemeral";
  /** A Secret or ConfigMap in the agent's namespace whose `ca.crt` the agent trusts besides the public CAs. */
  caBundle?: { secret: string } | { configMap: string };
  /** An HTTP(S) proxy the agent reaches Slipway through (not the API server: that is reached directly). */
  httpsProxy?: string;
};

export type AgentInstallInput = AgentInstallOptions & {
  runtime: string;
  token: string;
  serverUrl: string;
  /** The namespaces the runtime's services deploy to, for the `namespaced` profile's Roles. */
  namespaces?: readonly string[];
  /**
   * `managed` (default): the agent may set a newer image on its own Deployment when Slipway
   * announces one; `external`: the operator upgrades it, and the agent has no right to.
   */
  management?: "managed" | "external";
};

/** A Kubernetes namespace name: a DNS label. */
export const KUBERNETES_NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A Kubernetes object name (Secret, ConfigMap): a DNS subdomain. */
export const KUBERNETES_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
/** An image reference: `[registry[:port]/]path[:tag][@sha256:digest]` (no scheme: never `//`). */
export const IMAGE_REFERENCE = /^(?!.*\/\/)[a-z0-9][A-Za-z0-9._:/-]{0,254}(@sha256:[a-f0-9]{64})?$/;

/** The port the agent serves its probes on, in the install YAML. */
export const AGENT_PROBE_PORT = 8080;
/** The numeric user the agent's image runs as (agent/Dockerfile), so Kubernetes can check runAsNonRoot. */
export const AGENT_UID = 10001;
/** What the agent's state volume claims: thousands of remembered instructions fit in a few MiB. */
const STATE_VOLUME_SIZE = "64Mi";
const CA_DIR = "/etc/slipway/ca";

type K8sObject = { apiVersion: string; kind: string; metadata: Record<string, unknown>; [field: string]: unknown };

/** Rules over what the agent applies: workloads, their config, services, ingresses, jobs (for extensions). */
const APPLY_RULES = [
  { apiGroups: [""], resources: ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"] },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets", "daemonsets", "replicasets"] },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"] },
  { apiGroups: ["networking.k8s.io"], resources: ["ingresses"] },
  { apiGroups: ["autoscaling", "policy"], resources: ["horizontalpodautoscalers", "poddisruptionbudgets"] },
].map((r) => ({ ...r, verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }));
/** …and reading pods and events, to report on rollouts. */
const READ_RULES = [{ apiGroups: [""], resources: ["pods", "pods/log", "events"], verbs: ["get", "list", "watch"] }];

/**
 * Every object is named after its runtime (`slipway-agent-<runtime>`) and selects by it, so the
 * agents of several runtimes can share a cluster and a namespace (by default `slipway-agent`).
 */
/** What the install YAML names a runtime's objects (its Secret, Deployment, service account, Roles). */
export function agentObjectName(runtime: string): string {
  return `slipway-agent-${runtime}`;
}

export function agentInstallManifest(input: AgentInstallInput): string {
  const ns = input.namespace ?? DEFAULT_AGENT_NAMESPACE;
  const image = input.image ?? `${DEFAULT_AGENT_IMAGE_REPOSITORY}:${CURRENT_AGENT_VERSION}`;
  const name = agentObjectName(input.runtime);
  const labels = { "app.kubernetes.io/name": "slipway-agent", "app.kubernetes.io/instance": input.runtime };
  const subject = { kind: "ServiceAccount", name, namespace: ns };
  const docs: { comment?: string; object: K8sObject }[] = [];
  const add = (object: K8sObject, comment?: string) => docs.push({ object, ...(comment ? { comment } : {}) });

  add(
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "app.kubernetes.io/name": "slipway-agent" } },
    },
    " Shared by the agents of every runtime installed in it: no runtime's label.",
  );
  add({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: ns } });
  add(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `${name}-identity` },
      rules: [{ apiGroups: [""], resources: ["namespaces"], resourceNames: ["kube-system"], verbs: ["get"] }],
    },
    " Which cluster this is: the kube-system namespace's UID, which Slipway pins the runtime to.",
  );
  add(binding("ClusterRoleBinding", `${name}-identity`, undefined, "ClusterRole", `${name}-identity`, subject));

  if (input.rbac === "cluster") {
    add(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name },
        rules: [
          { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch", "create", "patch"] },
          ...APPLY_RULES,
          ...READ_RULES,
        ],
      },
      " The cluster profile: what the agent applies, in every namespace. No Secrets, no RBAC, no nodes.",
    );
    add(binding("ClusterRoleBinding", name, undefined, "ClusterRole", name, subject));
  } else {
    // Manifests that name no namespace land in the agent's own (kubectl's in-cluster default).
    const namespaces = [...new Set([ns, ...(input.namespaces ?? [])])];
    for (const target of namespaces) {
      if (target !== ns)
        add(
          { apiVersion: "v1", kind: "Namespace", metadata: { name: target } },
          ` A namespace runtime ${input.runtime} deploys to (listed in its config).`,
        );
      add(
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name, namespace: target },
          rules: [...APPLY_RULES, ...READ_RULES],
        },
        ` The namespaced profile: what the agent applies, in ${target} only. No Secrets, no RBAC.`,
      );
      add(binding("RoleBinding", name, target, "Role", name, subject));
    }
  }

  add({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    type: "Opaque",
    stringData: {
      SLIPWAY_SERVER_URL: input.serverUrl,
      SLIPWAY_RUNTIME: input.runtime,
      SLIPWAY_AGENT_TOKEN: input.token,
      ...(input.httpsProxy ? { SLIPWAY_HTTPS_PROXY: input.httpsProxy } : {}),
    },
  });
  const persistent = (input.state ?? "pvc") === "pvc";
  const stateConfigMap = input.state === "configmap" ? `${name}-state` : undefined;
  const managed = input.management !== "external";
  if (stateConfigMap)
    add(
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: stateConfigMap, namespace: ns, labels } },
      " What the agent applied, kept across pods: the agent writes its data (no data here, so applying this again keeps it).",
    );
  if (stateConfigMap || managed) {
    add(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: `${name}-self`, namespace: ns },
        rules: [
          ...(stateConfigMap
            ? [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [stateConfigMap], verbs: ["get", "patch"] }]
            : []),
          ...(managed
            ? [{ apiGroups: ["apps"], resources: ["deployments"], resourceNames: [name], verbs: ["get", "patch"] }]
            : []),
        ],
      },
      ` The agent's own objects, and nothing else:${stateConfigMap ? " its state ConfigMap" : ""}${
        stateConfigMap && managed ? " and" : ""
      }${managed ? " its Deployment (a managed runtime's agent sets the image Slipway announces)" : ""}.`,
    );
    add(binding("RoleBinding", `${name}-self`, ns, "Role", `${name}-self`, subject));
  }
  if (persistent)
    add(
      {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name, namespace: ns, labels },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: STATE_VOLUME_SIZE } } },
      },
      " What the agent applied, kept across pods: an instruction is never applied twice.",
    );

  const ca = input.caBundle;
  const volumes = [
    { name: "state", ...(persistent ? { persistentVolumeClaim: { claimName: name } } : { emptyDir: {} }) },
    // Scratch space; the root file system is read-only.
    { name: "tmp", emptyDir: {} },
    ...(ca
      ? [
          "secret" in ca
            ? { name: "ca", secret: { secretName: ca.secret, items: [{ key: "ca.crt", path: "ca.crt" }] } }
            : { name: "ca", configMap: { name: ca.configMap, items: [{ key: "ca.crt", path: "ca.crt" }] } },
        ]
      : []),
  ];
  add(
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas: 1,
        // One agent per runtime holds the lease (and the state volume): stop the old pod first.
        strategy: { type: "Recreate" },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: AGENT_UID,
              runAsGroup: AGENT_UID,
              fsGroup: AGENT_UID,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "agent",
                image,
                envFrom: [{ secretRef: { name } }],
                env: [
                  stateConfigMap
                    ? { name: "SLIPWAY_STATE_CONFIGMAP", value: stateConfigMap }
                    : { name: "SLIPWAY_STATE_FILE", value: "/var/lib/slipway/state.json" },
                  ...(managed ? [{ name: "SLIPWAY_DEPLOYMENT", value: name }] : []),
                  { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                  { name: "SLIPWAY_PROBE_PORT", value: String(AGENT_PROBE_PORT) },
                  ...(ca ? [{ name: "NODE_EXTRA_CA_CERTS", value: `${CA_DIR}/ca.crt` }] : []),
                ],
                ports: [{ name: "probes", containerPort: AGENT_PROBE_PORT }],
                livenessProbe: { httpGet: { path: "/healthz", port: "probes" }, periodSeconds: 20 },
                readinessProbe: { httpGet: { path: "/readyz", port: "probes" }, periodSeconds: 5 },
                volumeMounts: [
                  { name: "state", mountPath: "/var/lib/slipway" },
                  { name: "tmp", mountPath: "/tmp" },
                  ...(ca ? [{ name: "ca", mountPath: CA_DIR, readOnly: true }] : []),
                ],
                resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: AGENT_UID,
                  runAsGroup: AGENT_UID,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                  seccompProfile: { type: "RuntimeDefault" },
                },
              },
            ],
            volumes,
          },
        },
      },
    },
    " Alive at /healthz while the process runs; ready at /readyz while connected and holding the lease.",
  );

  return docs.map(({ object, comment }) => `${comment ? `#${comment}\n` : ""}${toYaml(object, "")}`).join("---\n");
}

/**
 * Plain data as block YAML (core/ takes no YAML library): maps and lists indented by two, every
 * string a JSON string — JSON's escapes are YAML's — unless it is a plain word YAML reads back as
 * the same string.
 */
function toYaml(value: unknown, indent: string): string {
  if (Array.isArray(value))
    return value.length
      ? value.map((v) => `${indent}- ${toYaml(v, `${indent}  `).trimStart()}`).join("")
      : `${indent}[]\n`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return `${indent}{}\n`;
    return entries
      .map(([k, v]) =>
        v !== null && typeof v === "object" && (Array.isArray(v) ? v.length : Object.keys(v).length)
          ? `${indent}${scalar(k)}:\n${toYaml(v, Array.isArray(v) ? indent : `${indent}  `)}`
          : `${indent}${scalar(k)}: ${toYaml(v, "").trim()}\n`,
      )
      .join("");
  }
  return `${indent}${scalar(value)}\n`;
}

function scalar(value: unknown): string {
  if (typeof value !== "string") return String(value);
  const plain = /^[A-Za-z/][A-Za-z0-9._/-]*$/.test(value) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(value);
  return plain ? value : JSON.stringify(value);
}

function binding(
  kind: "ClusterRoleBinding" | "RoleBinding",
  name: string,
  namespace: string | undefined,
  roleKind: "ClusterRole" | "Role",
  roleName: string,
  subject: { kind: string; name: string; namespace: string },
): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: roleKind, name: roleName },
    subjects: [subject],
  };
}
