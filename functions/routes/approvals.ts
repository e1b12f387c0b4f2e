import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import * as z from "zod";
import { DEFAULT_APPROVAL, Name } from "../../core/index.js";
import { decideApproval, decideFromSlack } from "../services/approvals.js";
import type { ApiDeps } from "../services/deps.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const MAX_SLACK_CALLBACK_BYTES = 64 * 1024;

const Decision = z.strictObject({
  decision: z.enum(["approve", "reject"]),
  approval: Name.default(DEFAULT_APPROVAL),
  comment: z.string().max(1000).optional(),
});
const ApprovalView = z.object({
  approval: z.string(),
  state: z.enum(["approved", "rejected", "pending"]),
  grantedBy: z.array(z.string()),
  minApprovers: z.number(),
  requested: z.boolean().describe("false for a pre-approval: the release has not reached the gate yet"),
  rejected: z.object({ approver: z.string(), comment: z.string().optional() }).optional(),
});
const SlackAnswer = z.object({
  text: z.string(),
  response_type: z.literal("ephemeral").optional(),
  replace_original: z.boolean().optional(),
});

export function registerApprovalRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "approve", {
        method: "post",
        path: "/v1/releases/{id}/channels/{channel}/approvals",
        summary: "Approve or reject a release in a channel",
        description:
          "The caller (the API key's name) is recorded as the approver. Approvals count distinct approvers; any rejection blocks the release in that channel. A release that has not reached the channel yet may be approved in advance (a pre-approval, counted once it gets there); one the channel no longer waits for is refused with 409 approval.not_pending. The gate's `approvers` and `allowSelfApproval` decide who may decide (403 approval.not_an_approver, 403 approval.self_approval).",
        request: {
          params: z.object({ id: z.string().max(64), channel: Name }),
          body: { required: true, content: { "application/json": { schema: Decision } } },
        },
        responses: {
          200: {
            description: "the approval after this decision",
            content: { "application/json": { schema: ApprovalView } },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { id, channel } = c.req.valid("param");
      const { decision, approval, comment } = c.req.valid("json");
      const input = {
        releaseId: id,
        channel,
        approval,
        approver: c.get("principal").actor.id,
        decision,
        ...(comment ? { comment } : {}),
      };
      return c.json(await decideApproval(deps, input, metadataOf(c, deps)), 200);
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "slack", {
        method: "post",
        path: "/v1/callbacks/slack",
        summary: "Slack interactive callback (Approve / Reject buttons)",
        description:
          "Slack's form-encoded `payload` (block_actions). Verified with `X-Slack-Signature` (v0, HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the Slack signing secret); timestamps older than five minutes are refused. The Slack user (`slack:<user id>`) is recorded as the approver. The message is updated through `response_url`; a click the approval policy refuses gets an ephemeral answer.",
        middleware: [
          bodyLimit({
            maxSize: MAX_SLACK_CALLBACK_BYTES,
            onError: (c) =>
              problem(
                c,
                413,
                "request.too_large",
                `Slack callbacks are limited to ${MAX_SLACK_CALLBACK_BYTES / 1024} KB`,
              ),
          }),
        ],
        responses: {
          200: {
            description: "the outcome, as a message for Slack (ephemeral for a refusal)",
            content: { "application/json": { schema: SlackAnswer } },
          },
          ...problemResponses(400, 401, 413),
        },
      }),
    ),
    async (c) => c.json(await decideFromSlack(deps, await c.req.text(), (actor) => metadataOf(c, deps, actor)), 200),
  );
}
