import type { InstructionPayload, ParamValue } from "../events/index.js";
import type { Application, Manifest, Runtime, Service } from "./config/schema.js";
import { constantsIn, paramsIn } from "./config/per-channel.js";
import { channelTargets } from "./config/validate.js";
import { invalid, type Issue } from "./errors.js";
import { render, renderDeep, type TemplateContext } from "./templating.js";

/**
 * Renders what each runtime of a release channel must apply for one release of one service:
 * the service's manifests with its params and the channel's constants, or — for a runtime
 * extension — the extension's apply task with the parameter values the service gives it.
 */

export type RenderInput = {
  /** The application now: which of the channel's runtimes the service deploys to. */
  application: Application;
  /**
   * The application as the release pinned it, whose channel constants are rendered; the current
   * one when not given.
   */
  pinnedApplication?: Application;
  channel: string;
  /** The service as the release pinned it, and the runtimes (extensions as pinned). */
  service: Service;
  runtimes: ReadonlyMap<string, Runtime>;
  releaseId: string;
  params: Record<string, ParamValue>;
};

export type RenderedInstruction = { runtime: string; payload: InstructionPayload };

/** What a service renders with in one channel: its params and constants there. */
export type ChannelInputs = {
  params: Record<string, ParamValue>;
  constants: Record<string, string | number | boolean>;
};

/** The params and constants of a release in one channel of an application, or undefined if the application has no such channel. */
export function channelInputs(
  application: Application,
  service: Service,
  channel: string,
  params: Readonly<Record<string, ParamValue>>,
): ChannelInputs | undefined {
  const config = application.releaseChannels.find((c) => c.name === channel);
  return config ? { params: paramsIn(service, channel, params), constants: constantsIn(service, config) } : undefined;
}

export function renderInstructions(input: RenderInput): RenderedInstruction[] {
  const channel = input.application.releaseChannels.find((c) => c.name === input.channel);
  if (!channel)
    throw invalid(
      "render.unknown_channel",
      `release channel "${input.channel}" does not exist in application "${input.application.name}"`,
    );
  const inputs = channelInputs(input.pinnedApplication ?? input.application, input.service, channel.name, input.params);
  if (!inputs)
    throw invalid(
      "render.unknown_channel",
      `release channel "${input.channel}" is not part of the application "${input.application.name}" release ${input.releaseId} was created with`,
    );
  const issues: Issue[] = [];
  const out: RenderedInstruction[] = [];
  for (const target of channelTargets(channel.runtimes, input.service)) {
    const runtime = input.runtimes.get(target.runtime);
    if (!runtime) {
      issues.push({
        path: `releaseChannels.${channel.name}.runtimes`,
        message: `runtime "${target.runtime}" does not exist`,
      });
      continue;
    }
    const context: TemplateContext = {
      Params: inputs.params,
      Constants: inputs.constants,
      Builtins: {
        Application: input.application.name,
        Service: input.service.name,
        ReleaseChannel: channel.name,
        Release: input.releaseId,
        Runtime: target.runtime,
      },
    };
    const payload = runtime.extension
      ? renderExtension(runtime, input.service, context, issues)
      : {
          kind: "kubernetes" as const,
          manifests: renderManifests(
            input.service.kubernetesConfig?.manifests ?? [],
            context,
            "service.kubernetesConfig.manifests",
            issues,
          ),
        };
    if (payload) out.push({ runtime: target.runtime, payload });
  }
  if (issues.length)
    throw invalid("render.failed", `the instructions for release ${input.releaseId} could not be rendered`, issues);
  return out;
}

function renderManifests(
  manifests: readonly Manifest[],
  context: TemplateContext,
  path: string,
  issues: Issue[],
): string[] {
  return manifests.map((m, i) => {
    const r = typeof m === "string" ? render(m, context, `${path}[${i}]`) : renderDeep(m, context, `${path}[${i}]`);
    if (!r.ok) {
      issues.push(...r.issues);
      return "";
    }
    return typeof r.value === "string" ? r.value : JSON.stringify(r.value);
  });
}

function renderExtension(
  runtime: Runtime,
  service: Service,
  serviceContext: TemplateContext,
  issues: Issue[],
): InstructionPayload | undefined {
  const ext = runtime.extension!;
  // The service's parameter values are rendered in the service's context first; the extension's
  // apply is then rendered with those values as its own params.
  const params: Record<string, ParamValue> = {};
  for (const p of ext.parameters) if (p.default !== undefined) params[p.name] = p.default;
  service.runtimeExtension?.parameterValues.forEach((pv, i) => {
    if (typeof pv.value === "number") params[pv.name] = pv.value;
    else {
      const r = render(pv.value, serviceContext, `service.runtimeExtension.parameterValues[${i}].value`);
      if (r.ok) params[pv.name] = r.value;
      else issues.push(...r.issues);
    }
  });
  for (const p of ext.parameters) {
    if (p.required && params[p.name] === undefined)
      issues.push({
        path: "service.runtimeExtension.parameterValues",
        message: `runtime "${runtime.name}" requires parameter "${p.name}"`,
      });
  }
  const context: TemplateContext = { ...serviceContext, Params: params };
  const common = {
    runtime: ext.proxyRuntime.runtime,
    params,
    ...(ext.proxyRuntime.namespace ? { namespace: ext.proxyRuntime.namespace } : {}),
  };
  const task = ext.apply.taskConfig;
  if (task) {
    const cmd = renderDeep(task.program.cmd, context, "runtime.extension.apply.taskConfig.program.cmd");
    const env = renderDeep(task.program.env ?? {}, context, "runtime.extension.apply.taskConfig.program.env");
    if (!cmd.ok) issues.push(...cmd.issues);
    if (!env.ok) issues.push(...env.issues);
    if (!cmd.ok || !env.ok) return undefined;
    return {
      kind: "extensionTask",
      ...common,
      image: task.image,
      cmd: cmd.value as string[],
      env: env.value as Record<string, string>,
    };
  }
  const manifests = renderManifests(
    ext.apply.kubernetesConfig?.manifests ?? [],
    context,
    "runtime.extension.apply.kubernetesConfig.manifests",
    issues,
  );
  return { kind: "extensionJob", ...common, manifests };
}
