import type { Command } from "commander";
import { KUBERNETES_NAMESPACE } from "../../core/index.js";
import type { LinkedRuntime, Page, RuntimeView } from "../api-types.js";
import { ApiError, CliError, TimeoutError } from "../errors.js";
import { clientOf, sleep, usage, withExamples } from "../kit.js";
import { note, outputOption, print, printData, type Format } from "../output.js";
import { formatDuration, parseDuration } from "../time.js";

/** `slipway runtime link|wait`: an agent for a runtime, and knowing it has arrived. */

const POLL_MS = 1000;

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
      .addOption(outputOption()),
    [
      "slipway runtime link k8s-staging > agent.yaml && kubectl apply -f agent.yaml",
      "slipway runtime link k8s-staging --namespace ops -o json",
    ],
  ).action(async (name: string, options: { namespace?: string; image?: string; output: Format }, cmd: Command) => {
    if (options.namespace !== undefined && !KUBERNETES_NAMESPACE.test(options.namespace))
      usage(cmd, "--namespace must be a Kubernetes namespace name (lowercase letters, digits and '-')");
    const query = new URLSearchParams({
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.image ? { image: options.image } : {}),
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
    const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout * 1000;
    for (;;) {
      let runtimes: Page<RuntimeView>;
      try {
        runtimes = await client.get<Page<RuntimeView>>("/v1/runtimes");
      } catch (err) {
        // Infrastructure code may ask before the server is quite up: only a refusal is final.
        if (err instanceof ApiError && err.problem.status < 500) throw err;
        if (deadline !== undefined && Date.now() >= deadline) throw err;
        await sleep(POLL_MS);
        continue;
      }
      const r = runtimes.items.find((i) => i.name === name);
      if (!r) throw new CliError(`runtime "${name}" does not exist`);
      if (r.status === "connected") {
        if (printData(options.output, r)) return;
        print(`runtime ${name}: agent ${r.agentVersion ?? "?"} connected`);
        return;
      }
      if (deadline !== undefined && Date.now() >= deadline)
        throw new TimeoutError(
          `no agent registered for runtime ${name} within ${formatDuration(options.timeout!)} (${r.linked ? `linked, ${r.status}` : "not linked yet: slipway runtime link"})`,
        );
      await sleep(POLL_MS);
    }
  });
}
