import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod";
import { DomainError, zodIssues, type ErrorCode, type Issue } from "../../core/index.js";
import type { Logger } from "../services/deps.js";

/**
 * Every error the API answers is `application/problem+json` (RFC 9457): a status, a
 * machine-readable `code`, a human `detail`, and — for invalid input — one entry per field in
 * `errors`, each naming its path.
 */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** `409 approval.not_pending`: what became of the release in that channel (`deployed`, `superseded`, …). */
  releaseState: z.string().optional(),
});
export type Problem = z.infer<typeof Problem>;

/** OpenAPI response entries for the problems a route may answer with. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: `${titles[s] ?? "Error"} (application/problem+json)`,
        content: { "application/problem+json": { schema: Problem } },
      },
    ]),
  );
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
};

export function problem(
  c: Context,
  status: number,
  code: ErrorCode,
  detail: string,
  errors: Issue[] = [],
  extensions: Readonly<Record<string, string>> = {},
): Response {
  const body: Problem = {
    ...extensions,
    type: `https://slipway.dev/problems/${code}`,
    title: titles[status] ?? "Error",
    status,
    code,
    detail,
    ...(errors.length ? { errors } : {}),
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, { "content-type": "application/problem+json" });
}

/** Answers a request body that failed its zod schema. */
export function invalidBody(c: Context, error: z.ZodError, prefix: PropertyKey[] = []): Response {
  const errors = zodIssues(error, prefix);
  return problem(
    c,
    400,
    "request.invalid",
    `the request has ${errors.length} invalid field(s): ${errors.map((e) => e.path || "body").join(", ")}`,
    errors,
  );
}

/** Maps everything a handler may throw onto a problem; unknown errors say nothing of their insides. */
export function onError(err: Error, c: Context, logger: Logger): Response {
  if (err instanceof DomainError) return problem(c, err.status, err.code, err.message, err.issues, err.extensions);
  if (err instanceof HTTPException) {
    const known = {
      400: "request.malformed",
      413: "request.too_large",
      415: "request.unsupported_media_type",
    } as const;
    const status = err.status;
    if (status === 400 || status === 413 || status === 415)
      return problem(c, status, known[status], err.message || titles[status] || "request refused");
  }
  logger.error(`unhandled error on ${c.req.method} ${c.req.path}`, { error: err });
  return problem(c, 500, "internal", "the request failed on the server; it has been logged");
}
