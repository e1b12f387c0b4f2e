import { CURRENT_AGENT_VERSION } from "./agent-protocol.js";

/**
 * The Kubernetes YAML that runs a runtime's agent, like any cluster agent's install manifest: a
 * namespace, a service account with the least rights the agent needs, the token in a Secret and a
 * single-replica Deployment that takes its settings from that Secret.
 */
export type AgentInstallInput = {
  runtime: string;
  token: string;
  serverUrl: string;
  image?: string;
  namespace?: string;
};

/** A Kubernetes namespace name: a DNS label. */
export const KUBERNETES_NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** An image reference: `[registry[:port]/]path[:tag][@sha256:digest]` (no scheme: never `//`). */
export const IMAGE_REFERENCE = /^(?!.*\/\/)[a-z0-9][A-Za-z0-9._:/-]{0,254}(@sha256:[a-f0-9]{64})?$/;

/** Quotes a string for YAML (JSON strings are valid YAML scalars). */
const q = (s: string) => JSON.stringify(s);

/** The port the agent serves its probes on, in the install YAML. */
export const AGENT_PROBE_PORT = 8080;
/** The numeric user the agent's image runs as (agent/Dockerfile), so Kubernetes can check runAsNonRoot. */
export const AGENT_UID = 10001;

/**
 * Every object is named after its runtime (`slipway-agent-<runtime>`) and selects by it, so the
 * agents of several runtimes can share a cluster and a namespace (by default `slipway-agent`).
 */
export function agentInstallManifest(input: AgentInstallInput): string {
  const ns = input.namespace ?? "slipway-agent";
  const image = input.image ?? `slipway/agent:${CURRENT_AGENT_VERSION}`;
  const name = `slipway-agent-${input.runtime}`;
  const labels = `app.kubernetes.io/name: slipway-agent\n    app.kubernetes.io/instance: ${q(input.runtime)}`;
  return `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
  # Shared by the agents of every runtime installed in it: no runtime's label.
  labels:
    app.kubernetes.io/name: slipway-agent
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${name}
  namespace: ${ns}
---
# What the agent needs to apply and watch the manifests of its services: workloads, their config,
# services, ingresses and jobs (for runtime extensions) — and to read pods and events to report on
# rollouts. No access to Secrets beyond its own namespace, no RBAC, no nodes.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${name}
rules:
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get, list, watch, create, patch]
  - apiGroups: [""]
    resources: [configmaps, services, serviceaccounts, persistentvolumeclaims]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [pods, pods/log, events]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments, statefulsets, daemonsets, replicasets]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [autoscaling, policy]
    resources: [horizontalpodautoscalers, poddisruptionbudgets]
    verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${name}
subjects:
  - kind: ServiceAccount
    name: ${name}
    namespace: ${ns}
---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: ${ns}
type: Opaque
stringData:
  SLIPWAY_SERVER_URL: ${q(input.serverUrl)}
  SLIPWAY_RUNTIME: ${q(input.runtime)}
  SLIPWAY_AGENT_TOKEN: ${q(input.token)}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels:
    ${labels}
spec:
  replicas: 1
  # One agent per runtime holds the lease: stop the old pod before starting the new one.
  strategy:
    type: Recreate
  selector:
    matchLabels:
      ${labels.replace("\n    ", "\n      ")}
  template:
    metadata:
      labels:
        ${labels.replace("\n    ", "\n        ")}
    spec:
      serviceAccountName: ${name}
      containers:
        - name: agent
          image: ${q(image)}
          envFrom:
            - secretRef:
                name: ${name}
          env:
            # Instructions already applied are remembered here, across container restarts.
            - name: SLIPWAY_STATE_FILE
              value: /var/lib/slipway/state.json
            - name: SLIPWAY_PROBE_PORT
              value: "${AGENT_PROBE_PORT}"
          ports:
            - name: probes
              containerPort: ${AGENT_PROBE_PORT}
          # Alive while the process runs; ready while connected to Slipway and holding the lease.
          livenessProbe:
            httpGet: { path: /healthz, port: probes }
            periodSeconds: 20
          readinessProbe:
            httpGet: { path: /readyz, port: probes }
            periodSeconds: 5
          volumeMounts:
            - name: state
              mountPath: /var/lib/slipway
            - name: tmp
              mountPath: /tmp
          resources:
            requests: { cpu: 50m, memory: 64Mi }
            limits: { memory: 256Mi }
          securityContext:
            runAsNonRoot: true
            runAsUser: ${AGENT_UID}
            runAsGroup: ${AGENT_UID}
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
            seccompProfile: { type: RuntimeDefault }
      volumes:
        - name: state
          emptyDir: {}
        # kubectl's cache; the root file system is read-only.
        - name: tmp
          emptyDir: {}
`;
}
