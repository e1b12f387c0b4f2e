import { createHash } from "node:crypto";
import { readState } from "../adapters/command-handler.js";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { InstructionPayload } from "../../events/index.js";
import { notFound, parseInstructionId, runtimeDecider, streams, unauthorized } from "../../core/index.js";
import { agentRuntimeOf, readConfig } from "../adapters/promoter.js";
import { safeEqual } from "./auth.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

/**
 * Instructions too large for one WebSocket message are sent as a reference; the agent fetches the
 * payload here with its own agent token, and only for its own runtime's instructions.
 */
export function registerAgentInstructionRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/agent/instructions/{id}",
      summary: "Fetch an instruction's payload (agents; authenticated with the agent token)",
      request: { params: z.object({ id: z.string().max(300) }) },
      responses: { 200: { description: "the payload", content: { "application/json": { schema: z.object({ instructionId: z.string(), payload: InstructionPayload }) } } }, ...problemResponses(401, 404) },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      const token = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      if (!token) throw unauthorized("auth.missing", "this endpoint needs the agent token in the Authorization header (Bearer)");
      const target = parseInstructionId(id);
      if (!target) throw notFound("instruction.not_found", `instruction ${id} does not exist`);
      const agentRuntime = agentRuntimeOf(await readConfig(deps), target.runtime);
      const runtime = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state;
      if (!runtime.token || !safeEqual(createHash("sha256").update(token).digest("hex"), runtime.token.tokenHash))
        throw unauthorized("agent.bad_token", `the agent token is not valid for runtime "${agentRuntime}"`);
      const dispatched = (await deps.store.read(streams.channel(target.application, target.channel))).find((e) => e.type === "InstructionDispatched" && e.data.instructionId === id);
      if (dispatched?.type !== "InstructionDispatched") throw notFound("instruction.not_found", `instruction ${id} does not exist`);
      return c.json({ instructionId: id, payload: dispatched.data.payload }, 200);
    },
  );
}
