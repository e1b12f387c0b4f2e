import type { Command } from "commander";
import { KUBERNETES_NAMESPACE } from "../../core/index.js";
import type { LinkedRuntime, RevokedTokens, RotatedToken, RuntimeView } from "../api-types.js";
import { ApiError, TimeoutError } from "../errors.js";
import { clientOf, sleep, usage, withExamples } from "../kit.js";
import { note, outputOption, print, printData, type Format } from "../output.js";
import { formatDuration, parseDuration, relativeTime } from "../time.js";

/**
 * `slipway runtime link|wait|rotate-token|revoke`: an agent for a runtime, knowing it has arrived,
 * and changing or ending its token.
 */

const POLL_MS = 1000;

/** How the install YAML runs the agent; the server checks each value (400 naming the option). */
type LinkFlags = {
  namespace?: string;
  image?: string;
  rbac?: string;
  state?: string;
  caSecret?: string;
  caConfigmap?: string;
  httpsProxy?: string;
};

export function registerRuntimeCommands(program: Command): void {
  const runtime = program.command("runtime").description("Link a runtime to an agent, or wait for its agent");

  withExamples(
    runtime
      .command("link")
      .description(
        "Issue a fresh agent token and print the Kubernetes YAML that runs the agent (linking again rotates the token)",
      )
      .argument("<runtime>", "the runtime")
      .option("--namespace <namespace>", "the namespace the agent runs in (default slipway-agent)")
      .option("--image <image>", "the agent's image (default slipway/agent:<version>)")
      .option("--rbac <profile>", "namespaced (default: Roles in the namespaces it deploys to) or cluster")
      .option("--state <kind>", "pvc (default: a volume kept across pods), configmap (no volume) or ephemeral")
      .option("--ca-secret <name>", "a Secret in the agent's namespace whose ca.crt the agent trusts")
      .option("--ca-configmap <name>", "the same from a ConfigMap")
      .option("--https-proxy <url>", "an HTTP proxy the agent reaches Slipway through")
      .addOption(outputOption()),
    [
      "slipway runtime link k8s-staging > agent.yaml && kubectl apply -f agent.yaml",
      "slipway runtime link k8s-staging --namespace ops -o json",
    ],
  ).action(async (name: string, options: LinkFlags & { output: Format }, cmd: Command) => {
    if (options.namespace !== undefined && !KUBERNETES_NAMESPACE.test(options.namespace))
      usage(cmd, "--namespace must be a Kubernetes namespace name (lowercase letters, digits and '-')");
    const query = new URLSearchParams({
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.image ? { image: options.image } : {}),
      ...(options.rbac ? { rbac: options.rbac } : {}),
      ...(options.state ? { state: options.state } : {}),
      ...(options.caSecret ? { caSecret: options.caSecret } : {}),
      ...(options.caConfigmap ? { caConfigMap: options.caConfigmap } : {}),
      ...(options.httpsProxy ? { httpsProxy: options.httpsProxy } : {}),
    }).toString();
    const linked = await clientOf(cmd).post<LinkedRuntime>(
      `/v1/runtimes/${encodeURIComponent(name)}/link${query ? `?${query}` : ""}`,
    );
    if (printData(options.output, linked)) return;
    print(linked.installManifest);
    note(
      `runtime ${name} linked: the agent token is in this YAML only (keep it secret); ` +
        `"slipway runtime wait ${name} --linked" returns once the agent has registered`,
    );
  });

  withExamples(
    runtime
      .command("wait")
      .description("Wait until an agent has registered for the runtime (exit code 3 after --timeout)")
      .argument("<runtime>", "the runtime")
      .option("--linked", "wait until an agent has connected and holds the runtime's lease")
      .option("--timeout <duration>", "give up after this long (30s, 5m, 1h)", parseDuration)
      .addOption(outputOption()),
    ["slipway runtime wait k8s-staging --linked --timeout 5m"],
  ).action(async (name: string, options: { linked?: boolean; timeout?: number; output: Format }, cmd: Command) => {
    if (!options.linked) usage(cmd, "say what to wait for: --linked");
    const client = clientOf(cmd);
    const path = `/v1/runtimes/${encodeURIComponent(name)}`;
    const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout * 1000;
    const left = () => (deadline === undefined ? Infinity : deadline - Date.now());
    for (;;) {
      // The server waits up to 25 s a request (408 runtime.wait_timeout after that): ask again until the deadline.
      const seconds = Math.max(1, Math.min(25, Math.ceil(left() / 1000)));
      try {
        const r = await client.get<RuntimeView>(`${path}?wait=connected&timeout=${seconds}s`);
        if (printData(options.output, r)) return;
        print(`runtime ${name}: agent ${r.agentVersion ?? "?"} connected`);
        return;
      } catch (err) {
        // Infrastructure code may ask before the server is quite up: only a refusal is final.
        const status = err instanceof ApiError ? err.problem.status : undefined;
        if (status !== undefined && status < 500 && status !== 408) throw err;
        if (left() <= 0) {
          if (status !== 408) throw err;
          const r = await client.get<RuntimeView>(path);
          throw new TimeoutError(
            `no agent registered for runtime ${name} within ${formatDuration(options.timeout!)} (${r.linked ? `linked, ${r.status}` : "not linked yet: slipway runtime link"})`,
          );
        }
        if (status !== 408) await sleep(POLL_MS);
      }
    }
  });

  withExamples(
    runtime
      .command("rotate-token")
      .description(
        "Issue a new agent token while the previous one stays accepted for --overlap; prints the kubectl commands that give the agent the new token",
      )
      .argument("<runtime>", "the runtime")
      .option(
        "--overlap <duration>",
        "how long the previous token stays accepted (default 10m, at most 24h)",
        parseDuration,
      )
      .addOption(outputOption()),
    ["slipway runtime rotate-token k8s-staging --overlap 30m", "slipway runtime rotate-token k8s-staging | sh"],
  ).action(async (name: string, options: { overlap?: number; output: Format }, cmd: Command) => {
    const query = options.overlap === undefined ? "" : `?overlap=${options.overlap}s`;
    const rotated = await clientOf(cmd).post<RotatedToken>(`/v1/runtimes/${encodeURIComponent(name)}/token${query}`);
    if (printData(options.output, rotated)) return;
    // Only the commands go to stdout, so they can be piped to a shell; they hold the token.
    print(rotated.commands.join("\n"));
    note(
      `runtime ${name}: agent token rotated (generation ${rotated.tokenGeneration}); the previous token is accepted until ${rotated.previousTokenValidUntil} (${relativeTime(rotated.previousTokenValidUntil)}). ` +
        `Run the commands above before then (they hold the new token: keep them out of shell history)`,
    );
  });

  withExamples(
    runtime
      .command("revoke")
      .description(
        "Revoke the runtime's agent tokens at once and disconnect its agent (it must be linked again); --previous ends only a rotation's overlap",
      )
      .argument("<runtime>", "the runtime")
      .option("--previous", "revoke only the previous token of a rotation, ending its overlap now")
      .addOption(outputOption()),
    ["slipway runtime revoke k8s-staging", "slipway runtime revoke k8s-staging --previous"],
  ).action(async (name: string, options: { previous?: boolean; output: Format }, cmd: Command) => {
    const scope = options.previous ? "previous" : "all";
    const revoked = await clientOf(cmd).post<RevokedTokens>(
      `/v1/runtimes/${encodeURIComponent(name)}/revoke?token=${scope}`,
    );
    if (printData(options.output, revoked)) return;
    const agent = revoked.disconnected ? `; its agent was disconnected` : "";
    if (!revoked.changed)
      print(
        `runtime ${name}: ${scope === "previous" ? "no rotation's overlap is running" : "no agent token to revoke"} (nothing changed)`,
      );
    else if (scope === "previous")
      print(`runtime ${name}: the previous agent token is revoked; only the current one is accepted${agent}`);
    else print(`runtime ${name}: every agent token is revoked${agent}; link it again (slipway runtime link ${name})`);
  });
}
