import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import { InstructionPayload } from "../../events/index.js";
import type { ApiDeps } from "../services/deps.js";
import { instructionPayload } from "../services/runtimes.js";
import { withAccess } from "./access.js";
import type { ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

/**
 * Instructions too large for one WebSocket message are sent as a reference; the agent fetches the
 * payload here with its own agent token, and only for its own runtime's instructions.
 */
export function registerAgentInstructionRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "agent", {
        method: "get",
        path: "/v1/agent/instructions/{id}",
        summary: "Fetch an instruction's payload (agents; authenticated with the agent token)",
        request: { params: z.object({ id: z.string().max(300) }) },
        responses: {
          200: {
            description: "the payload",
            content: {
              "application/json": { schema: z.object({ instructionId: z.string(), payload: InstructionPayload }) },
            },
          },
          ...problemResponses(401, 404),
        },
      }),
    ),
    async (c) => c.json(await instructionPayload(deps, c.req.valid("param").id, c.get("agentToken")), 200),
  );
}
