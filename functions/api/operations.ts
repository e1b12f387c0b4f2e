import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { channelDecider, getConfig, instructionId, listConfigs, notFound, releaseDecider, renderInstructions, streams } from "../../core/index.js";
import { handleCommand, readState } from "../adapters/command-handler.js";
import { dispatchInParts, readConfig } from "../adapters/promoter.js";
import { requireScope } from "./auth.js";
import { metadataOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const Reason = z.strictObject({ reason: z.string().max(1000).optional() }).default({});
const ChannelParams = z.object({ app: z.string().max(63), channel: z.string().max(63) });
const Done = z.object({ changed: z.boolean() });

/** Operator commands: abandon a release, pause and resume a channel, roll a service back. */
export function registerOperationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.on("POST", ["/v1/releases/:id/abandon", "/v1/applications/:app/channels/:channel/*"], requireScope(deps, "admin"));
  const body = (schema: z.ZodType) => ({ required: false, content: { "application/json": { schema } } });

  app.openapi(
    createRoute({ method: "post", path: "/v1/releases/{id}/abandon", summary: "Abandon a release: it is never promoted further", request: { params: z.object({ id: z.string().max(64) }), body: body(Reason) }, responses: { 200: { description: "abandoned", content: { "application/json": { schema: Done } } }, ...problemResponses(400, 401, 403, 404) } }),
    async (c) => {
      const reason = (c.req.valid("json") as { reason?: string } | undefined)?.reason;
      const result = await handleCommand(deps.store, releaseDecider, streams.release(c.req.valid("param").id), { type: "AbandonRelease", ...(reason ? { reason } : {}) }, metadataOf(c, deps));
      return c.json({ changed: result.events.length > 0 }, 200);
    },
  );

  for (const action of ["pause", "resume"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/applications/{app}/channels/{channel}/${action}`,
        summary: action === "pause" ? "Pause a channel: nothing is applied there until it is resumed" : "Resume a paused channel: waiting releases are evaluated again",
        request: { params: ChannelParams, body: body(Reason) },
        responses: { 200: { description: `${action}d`, content: { "application/json": { schema: Done } } }, ...problemResponses(400, 401, 403, 404) },
      }),
      async (c) => {
        const { app: application, channel } = c.req.valid("param");
        await assertChannel(deps, application, channel);
        const reason = (c.req.valid("json") as { reason?: string } | undefined)?.reason;
        const command = action === "pause" ? { type: "PauseChannel" as const, application, channel, ...(reason ? { reason } : {}) } : { type: "ResumeChannel" as const, application, channel };
        const result = await handleCommand(deps.store, channelDecider, streams.channel(application, channel), command, metadataOf(c, deps));
        return c.json({ changed: result.events.length > 0 }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/applications/{app}/channels/{channel}/rollback",
      summary: "Roll a service in a channel back to a release that ran there before",
      description: "Skips the channel's soak and approval gates, and is recorded as a rollback.",
      request: { params: ChannelParams, body: { required: true, content: { "application/json": { schema: z.strictObject({ service: z.string().max(63), releaseId: z.string().max(64), reason: z.string().max(1000).optional() }) } } } },
      responses: { 200: { description: "rolled back", content: { "application/json": { schema: Done.extend({ instructions: z.array(z.string()) }) } } }, ...problemResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { app: application, channel } = c.req.valid("param");
      const { service, releaseId, reason } = c.req.valid("json");
      const config = await assertChannel(deps, application, channel);
      const release = (await readState(deps.store, releaseDecider, streams.release(releaseId))).state;
      if (release.status === "none" || release.service !== service || release.application !== application)
        throw notFound("release.not_found", `release ${releaseId} of service "${service}" does not exist in application "${application}"`);
      const serviceConfig = getConfig(config, "service", service);
      if (!serviceConfig) throw notFound("service.not_found", `service "${service}" does not exist`);
      const stream = streams.channel(application, channel);
      const state = (await readState(deps.store, channelDecider, stream)).state;
      const attempt = Object.values(state.instructions).filter((i) => i.releaseId === releaseId).length;
      const rendered = renderInstructions({ application: getConfig(config, "application", application)!.spec, channel, service: serviceConfig.spec, runtimes: new Map(listConfigs(config, "runtime").map((r) => [r.name, r.spec])), releaseId, params: release.params });
      const instructions = rendered.map((r) => ({ instructionId: instructionId(application, channel, releaseId, r.runtime, attempt), runtime: r.runtime, payload: r.payload }));
      const appended = (await dispatchInParts(deps.store, stream, { type: "RollbackService", application, channel, service, toReleaseId: releaseId, instructions, ...(reason ? { reason } : {}) }, metadataOf(c, deps))).length;
      return c.json({ changed: appended > 0, instructions: appended ? instructions.map((i) => i.instructionId) : [] }, 200);
    },
  );
}

async function assertChannel(deps: ApiDeps, application: string, channel: string) {
  const config = await readConfig(deps);
  const app = getConfig(config, "application", application);
  if (!app) throw notFound("application.not_found", `application "${application}" does not exist`);
  if (!app.spec.releaseChannels.some((c) => c.name === channel)) throw notFound("channel.not_found", `release channel "${channel}" does not exist in application "${application}"`);
  return config;
}
