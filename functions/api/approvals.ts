import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { approvalState, DEFAULT_APPROVAL, DomainError, invalid as invalidInput, releaseDecider, streams, unauthorized } from "../../core/index.js";
import { handleCommand } from "../adapters/command-handler.js";
import { APPROVE_ACTION, BlockActionsPayload, ButtonValue, REJECT_ACTION, slackSignatureProblem } from "../adapters/slack.js";
import { requireScope } from "./auth.js";
import { metadataOf, nowOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const Decision = z.strictObject({
  decision: z.enum(["approve", "reject"]),
  approval: z.string().min(1).max(63).default(DEFAULT_APPROVAL),
  comment: z.string().max(1000).optional(),
});
const ApprovalView = z.object({ approval: z.string(), state: z.enum(["approved", "rejected", "pending"]), grantedBy: z.array(z.string()), minApprovers: z.number() });

async function decide(deps: ApiDeps, c: Parameters<typeof metadataOf>[0], input: { releaseId: string; channel: string; approval: string; approver: string; decision: "approve" | "reject"; comment?: string }) {
  const result = await handleCommand(
    deps.store,
    releaseDecider,
    streams.release(input.releaseId),
    { type: "DecideApproval", channel: input.channel, approval: input.approval, approver: input.approver, decision: input.decision, ...(input.comment ? { comment: input.comment } : {}) },
    metadataOf(c, deps),
  );
  const state = result.state;
  const a = state.status === "none" ? undefined : state.gates[input.channel]?.approvals[input.approval];
  return { approval: input.approval, state: approvalState(a), grantedBy: a?.grantedBy ?? [], minApprovers: a?.minApprovers ?? 1 };
}

export function registerApprovalRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.on("POST", "/v1/releases/:id/channels/:channel/approvals", requireScope(deps, "approve"));
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/releases/{id}/channels/{channel}/approvals",
      summary: "Approve or reject a release in a channel",
      description: "The caller (the API key's name) is recorded as the approver. Approvals count distinct approvers; any rejection blocks the release in that channel.",
      request: { params: z.object({ id: z.string().max(64), channel: z.string().max(63) }), body: { required: true, content: { "application/json": { schema: Decision } } } },
      responses: { 200: { description: "the approval after this decision", content: { "application/json": { schema: ApprovalView } } }, ...problemResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { id, channel } = c.req.valid("param");
      const body = c.req.valid("json");
      const view = await decide(deps, c, { releaseId: id, channel, approval: body.approval, approver: c.get("principal").actor.id, decision: body.decision, ...(body.comment ? { comment: body.comment } : {}) });
      return c.json(view, 200);
    },
  );

  app.use("/v1/callbacks/slack", bodyLimit({ maxSize: 64 * 1024, onError: (c) => problem(c, 413, "request.too_large", "Slack callbacks are limited to 64 KB") }));
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/callbacks/slack",
      summary: "Slack interactive callback (Approve / Reject buttons)",
      description: "Slack's form-encoded `payload` (block_actions). Verified with `X-Slack-Signature` (v0, HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the Slack signing secret); timestamps older than five minutes are refused. The Slack user is recorded as the approver.",
      responses: { 200: { description: "the outcome, as a message for Slack", content: { "application/json": { schema: z.object({ text: z.string() }) } } }, ...problemResponses(400, 401) },
    }),
    async (c) => {
      const raw = await c.req.text();
      const invalid = slackSignatureProblem(deps.secrets.slackSigningSecret, c.req.header("x-slack-request-timestamp"), c.req.header("x-slack-signature"), raw, nowOf(deps));
      if (invalid) throw unauthorized("slack.bad_signature", invalid);
      let payload: z.infer<typeof BlockActionsPayload>;
      let target: z.infer<typeof ButtonValue>;
      try {
        payload = BlockActionsPayload.parse(JSON.parse(new URLSearchParams(raw).get("payload") ?? ""));
        target = ButtonValue.parse(JSON.parse(payload.actions[0]!.value ?? ""));
      } catch {
        throw invalidInput("slack.invalid_payload", "the payload is not a Slipway block_actions callback");
      }
      const actionId = payload.actions[0]!.action_id;
      if (actionId !== APPROVE_ACTION && actionId !== REJECT_ACTION) throw invalidInput("slack.unknown_action", `unknown action ${actionId}`);
      const decision = actionId === APPROVE_ACTION ? "approve" : "reject";
      const who = payload.user.username ?? payload.user.name ?? payload.user.id;
      c.set("principal", { actor: { kind: "user", id: `slack:${payload.user.id}` }, scopes: ["approve"] });
      let text: string;
      try {
        const view = await decide(deps, c, { releaseId: target.releaseId, channel: target.channel, approval: target.approval, approver: `slack:${payload.user.id}`, decision });
        text = decision === "reject" ? `:x: ${who} rejected ${target.releaseId} for ${target.channel}.` : `:white_check_mark: ${who} approved ${target.releaseId} for ${target.channel} (${view.grantedBy.length} of ${view.minApprovers}).`;
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        text = `:warning: ${err.message}`;
      }
      if (payload.response_url) await updateSlackMessage(payload.response_url, text, deps.log);
      return c.json({ text }, 200);
    },
  );
}

/** Best effort: replaces the buttons with the outcome; Slack's 3 s budget leaves no room to retry. */
async function updateSlackMessage(url: string, text: string, log?: (line: string) => void): Promise<void> {
  try {
    await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ replace_original: true, text }), signal: AbortSignal.timeout(1500) });
  } catch (err) {
    log?.(`could not update the Slack message: ${err instanceof Error ? err.message : String(err)}`);
  }
}
