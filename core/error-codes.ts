/**
 * Every error code the API answers with, its status and when: the one list the server's refusals
 * are typed against (DomainError, problem()) and docs/http-api.md's table is generated from
 * (`npm run docs:errors`; a test fails when the two differ).
 */
export const ERROR_CODES = {
  // ── requests ──
  "request.invalid": { status: 400, when: "a field of the body, query or path fails its schema; `errors` names each" },
  "request.malformed": {
    status: 400,
    when: "the body cannot be read as its content type says (JSON that does not parse)",
  },
  "request.too_large": {
    status: 413,
    when: "the body is over the endpoint's limit; the connection is closed after the answer",
  },
  "request.unsupported_media_type": { status: 415, when: "the body's content type is not one the endpoint reads" },
  "route.not_found": { status: 404, when: "no endpoint has this method and path" },
  "stream.conflict": { status: 409, when: "another writer changed the same thing at the same moment; try again" },
  "event.too_large": { status: 413, when: "what the request would record is over DynamoDB's 400 KB item limit" },
  "append.too_many_events": { status: 413, when: "what the request would record is over one transaction's limits" },
  internal: { status: 500, when: "the server failed; the details are in its log, not in the answer" },
  // ── credentials ──
  "auth.missing": { status: 401, when: "no `Authorization: Bearer` header" },
  "auth.malformed": { status: 401, when: "the `Authorization` header is not `Bearer <key>`" },
  "auth.invalid_key": { status: 401, when: "the API key is unknown or revoked" },
  "auth.scope": { status: 403, when: "the API key lacks the scope the endpoint needs" },
  "auth.session": {
    status: 401,
    when: "the dashboard's session cookie has ended, is not valid, or its key was revoked; sign in again",
  },
  "auth.csrf": {
    status: 403,
    when: "a request authenticated by the session cookie changes something without the session's `X-Slipway-CSRF` token",
  },
  "auth.cross_origin": {
    status: 403,
    when: "a request authenticated by the session cookie comes from another origin (`Origin` / `Sec-Fetch-Site`)",
  },
  "webhook.bad_signature": { status: 401, when: "the CI webhook's signature does not match `<timestamp>.<body>`" },
  "webhook.bad_timestamp": {
    status: 401,
    when: "a signed CI webhook without `X-Slipway-Timestamp`, or not a Unix time in seconds",
  },
  "webhook.stale": { status: 401, when: "the CI webhook's timestamp is more than five minutes off the server's clock" },
  "webhook.replayed": {
    status: 409,
    when: "the CI webhook's signature was accepted before, for another delivery (or without one)",
  },
  "delivery.conflict": {
    status: 409,
    when: "the `X-Slipway-Delivery` id was used before with a different body",
  },
  "slack.bad_signature": {
    status: 401,
    when: "a Slack callback without a valid `X-Slack-Signature`, or older than five minutes",
  },
  "slack.invalid_payload": { status: 400, when: "a Slack callback whose payload is not a block action Slipway sent" },
  "slack.unknown_action": { status: 400, when: "a Slack callback for a button Slipway does not know" },
  "apikey.exists": { status: 409, when: "an API key with this id exists already" },
  "apikey.name_taken": { status: 409, when: "an active API key has this name already" },
  "apikey.not_found": { status: 404, when: "no API key has this id" },
  "secret.not_found": { status: 404, when: "no secret has this name" },
  // ── config ──
  "config.invalid": { status: 400, when: "the documents fail validation; `errors` names each field by its path" },
  "config.unparseable": { status: 400, when: "the body is not valid YAML or JSON, or an alias points nowhere" },
  "config.too_deep": { status: 400, when: "the body nests deeper than 64 levels" },
  "config.too_complex": { status: 400, when: "the body holds more than 200,000 values or 1,000 documents" },
  "config.too_many_aliases": { status: 400, when: "the body uses more than 100 YAML aliases" },
  "config.empty": { status: 400, when: "the body holds no documents" },
  "config.not_found": { status: 404, when: "no config object of this kind has this name" },
  "config.in_use": { status: 409, when: "the object is referenced by another and cannot be deleted" },
  "application.not_found": { status: 404, when: "no application has this name" },
  "service.not_found": { status: 404, when: "no service has this name in the application" },
  "channel.not_found": { status: 404, when: "the application has no release channel of this name" },
  "runtime.not_found": { status: 404, when: "no runtime has this name" },
  "runtime.is_extension": { status: 409, when: "an extension runtime has no agent of its own to link" },
  "runtime.other_cluster": {
    status: 409,
    when: "the agent runs in another cluster than the one the runtime is pinned to; link the runtime again to move it",
  },
  "runtime.not_linked": {
    status: 409,
    when: "the runtime has no agent token to rotate (never linked, or its tokens were revoked); link it first",
  },
  "runtime.wait_timeout": { status: 408, when: "what `?wait=` waits for did not come about within the timeout" },
  "render.failed": { status: 400, when: "a template of the service cannot be rendered; `errors` names the expression" },
  "render.unknown_channel": { status: 400, when: "rendering for a channel the application does not have" },
  // ── releases ──
  "release.not_found": { status: 404, when: "no release has this id" },
  "release.exists": { status: 409, when: "a release with this id exists already" },
  "release.invalid_params": { status: 400, when: "the params do not fit the service's parameters" },
  "release.wrong_application": { status: 400, when: "the service belongs to another application" },
  "release.unknown_channel": { status: 404, when: "the release's application has no channel of this name" },
  "release.not_in_channel": { status: 409, when: "the release has not entered the channel" },
  "release.abandoned": { status: 409, when: "the release was abandoned" },
  "release.bad": { status: 409, when: "the release was marked bad" },
  "release.superseded": { status: 409, when: "a newer release took the release's place in the channel" },
  "approval.unknown": { status: 404, when: "the channel has no manual approval of this name" },
  "approval.not_pending": {
    status: 409,
    when: "the channel no longer waits for the approval; `releaseState` says why",
  },
  "approval.rejected": { status: 409, when: "the approval was rejected already" },
  "approval.not_an_approver": { status: 403, when: "the caller is not one of the approval's approvers" },
  "approval.self_approval": {
    status: 403,
    when: "the release's author may not approve it (`allowSelfApproval` is off)",
  },
  "override.not_allowed": { status: 400, when: "the gate cannot be overridden" },
  "override.not_blocked": { status: 409, when: "the gate does not block the release there" },
  "channel.paused": { status: 409, when: "the channel is paused" },
  "channel.no_runtimes": { status: 400, when: "the channel has no runtimes to deploy to" },
  "channel.rolled_back": {
    status: 409,
    when: "the channel holds the release back after a rollback; promote it explicitly",
  },
  "pause.until_not_future": { status: 400, when: "a pause's `until` is not in the future" },
  "rollback.unknown_release": { status: 409, when: "the release never ran in the channel" },
  "rollback.bad_release": { status: 409, when: "the release to roll back to is marked bad" },
  "rollback.config_missing": { status: 409, when: "the config the release was rendered from is gone" },
  // ── agents ──
  "agent.bad_token": { status: 401, when: "the agent token is unknown, or was voided by linking again" },
  "agent.not_linked": { status: 401, when: "the runtime has no agent token yet" },
  "agent.token_expired": {
    status: 401,
    when: "the agent token was replaced by a rotation and its overlap has ended (or was ended by a revoke); use the new token",
  },
  "agent.token_revoked": { status: 401, when: "every agent token of the runtime was revoked; link it again" },
  "agent.fenced": { status: 409, when: "the agent's lease was taken by a newer connection" },
  "instruction.not_found": { status: 404, when: "no instruction has this id" },
  "instruction.wrong_runtime": { status: 403, when: "the instruction belongs to another runtime" },
  "instruction.duplicate_id": { status: 409, when: "an instruction with this id was dispatched already" },
} as const satisfies Record<string, { status: 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 500; when: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The codes answered with one status. */
export type CodeWithStatus<S extends number> = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K]["status"] extends S ? K : never;
}[ErrorCode];

/** The table in docs/http-api.md, as markdown rows. */
export function errorCodeTable(): string {
  return [
    "| status | code | when |",
    "|---|---|---|",
    ...Object.entries(ERROR_CODES)
      .sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b))
      .map(([code, { status, when }]) => `| ${status} | \`${code}\` | ${when} |`),
  ].join("\n");
}
