import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { AGENT_PROBE_PORT, AGENT_UID, agentInstallManifest } from "../../core/index.js";

/** The install YAML the link call hands out: what Kubernetes will run, and how it checks on it. */
const objects = () =>
  parseAllDocuments(agentInstallManifest({ runtime: "k8s-staging", token: "slwa_x", serverUrl: "wss://s/l" })).map(
    (d) => d.toJS() as { kind: string; spec?: unknown },
  );

type Container = {
  env: { name: string; value: string }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: Record<string, unknown>;
};

describe("the agent's install YAML", () => {
  const deployment = objects().find((o) => o.kind === "Deployment") as {
    spec: { template: { spec: { containers: Container[]; volumes: { name: string }[] } } };
  };
  const agent = deployment.spec.template.spec.containers[0]!;

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
    // What it writes goes to volumes: its state, and kubectl's cache under /tmp.
    expect(deployment.spec.template.spec.volumes.map((v) => v.name).sort()).toEqual(["state", "tmp"]);
  });

  it("names every object after its runtime, so two runtimes' agents share a cluster and a namespace", () => {
    const named = (runtime: string) =>
      parseAllDocuments(agentInstallManifest({ runtime, token: "t", serverUrl: "wss://s/l" })).map(
        (d) =>
          d.toJS() as {
            kind: string;
            metadata: { name: string; namespace?: string };
            spec?: { selector?: { matchLabels: Record<string, string> } };
          },
      );
    const a = named("k8s-eu");
    const b = named("k8s-us");
    const key = (o: { kind: string; metadata: { name: string } }) => `${o.kind}/${o.metadata.name}`;
    // Only the namespace they share is the same object.
    expect(a.map(key).filter((k) => b.map(key).includes(k))).toEqual(["Namespace/slipway-agent"]);
    const deploymentOf = (objects: typeof a) => objects.find((o) => o.kind === "Deployment")!;
    expect(deploymentOf(a).metadata.name).toBe("slipway-agent-k8s-eu");
    expect(deploymentOf(a).spec!.selector!.matchLabels).toEqual({
      "app.kubernetes.io/name": "slipway-agent",
      "app.kubernetes.io/instance": "k8s-eu",
    });
    expect(deploymentOf(b).spec!.selector!.matchLabels["app.kubernetes.io/instance"]).toBe("k8s-us");
  });
});
