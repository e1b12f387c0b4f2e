import type { RouteConfig } from "@hono/zod-openapi";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Scope } from "../../core/index.js";
import { authenticate, checkScope } from "../services/access.js";
import { bearerToken, safeEqual, slackSignatureProblem, webhookSignatureProblem } from "../services/credentials.js";
import { nowOf, type ApiDeps } from "../services/deps.js";
import { CSRF_HEADER, SESSION_COOKIE, sessionOf } from "../services/sessions.js";
import type { ApiEnv } from "./context.js";
import { problem } from "./problem.js";

/**
 * Who may call a route, declared where the route is defined:
 * - a scope (`admin`, `release`, `approve`, `read`): an API key that carries it;
 * - `ci`: a CI webhook signed with the webhook secret (`X-Slipway-Timestamp` within five minutes,
 *   `X-Slipway-Signature-256` over `<timestamp>.<body>`), or a `release`-scoped API key;
 * - `slack`: a callback signed with Slack's signing secret;
 * - `agent`: a runtime's agent token (the route checks it against the runtime it asks about);
 * - `page`: a dashboard page, for anyone who may `read`; without credentials it sends the browser
 *   to the sign-in form instead of answering 401;
 * - `public`: anyone.
 *
 * Where a scope is asked for (and on pages), the dashboard's session cookie stands in for a key
 * when no Authorization header is sent. A cookie-authenticated request that changes something
 * must come from the dashboard's own origin and carry the session's CSRF token.
 */
export type Access = Scope | "ci" | "slack" | "agent" | "page" | "public";

const ACCESS = Symbol("slipway.access");
type AccessMiddleware = MiddlewareHandler<ApiEnv> & { [ACCESS]: Access };

/**
 * A route definition that enforces its access: the check runs as the route's first middleware,
 * before its input is validated, and the OpenAPI document states it.
 */
export function withAccess<R extends RouteConfig>(
  deps: ApiDeps,
  access: Access,
  route: R,
): R & { middleware: MiddlewareHandler<ApiEnv>[] } {
  const own =
    route.middleware === undefined ? [] : Array.isArray(route.middleware) ? route.middleware : [route.middleware];
  return {
    ...route,
    security: access === "public" || access === "slack" ? [] : [{ bearer: [] }],
    "x-slipway-access": access,
    middleware: [...(own as MiddlewareHandler<ApiEnv>[]), authorize(deps, access)],
  };
}

/** The one middleware that checks access. */
export function authorize(deps: ApiDeps, access: Access): AccessMiddleware {
  const check: MiddlewareHandler<ApiEnv> = async (c, next) => {
    if (access === "public") return next();
    if (access === "slack") {
      const invalid = slackSignatureProblem(
        deps.secrets.slackSigningSecret,
        c.req.header("x-slack-request-timestamp"),
        c.req.header("x-slack-signature"),
        await c.req.text(),
        nowOf(deps),
      );
      if (invalid) return problem(c, 401, "slack.bad_signature", invalid);
      c.set("principal", { actor: { kind: "system", id: "slack" }, scopes: [] });
      return next();
    }
    const signature = access === "ci" ? c.req.header("x-slipway-signature-256") : undefined;
    if (signature !== undefined) {
      const invalid = webhookSignatureProblem(
        deps.secrets.webhookSecret,
        c.req.header("x-slipway-timestamp"),
        signature,
        await c.req.text(),
        nowOf(deps),
      );
      if (invalid) return problem(c, 401, invalid.code, invalid.detail);
      c.set("principal", { actor: { kind: "ci", id: "ci-webhook" }, scopes: ["release"] });
      // The route spends it: a signature is good for one delivery (see createRelease).
      c.set("webhookSignature", signature);
      return next();
    }
    const scope: Scope | undefined =
      access === "ci" ? "release" : access === "agent" ? undefined : access === "page" ? "read" : access;
    const cookie = getCookie(c, SESSION_COOKIE);
    if (access !== "ci" && scope && c.req.header("authorization") === undefined && cookie !== undefined) {
      const refused = await withSession(c, deps, cookie, scope);
      if (refused) return access === "page" && refused.status === 401 ? toSignIn(c) : refused;
      return next();
    }
    if (access === "page" && c.req.header("authorization") === undefined) return toSignIn(c);
    const what = scope ? `an API key with the "${scope}" scope` : "the agent token";
    const bearer = bearerToken(c.req.header("authorization"));
    if ("problem" in bearer)
      return withChallenge(
        bearer.problem === "missing"
          ? problem(c, 401, "auth.missing", `this endpoint needs ${what} in the Authorization header (Bearer)`)
          : problem(
              c,
              401,
              "auth.malformed",
              `the Authorization header must be \`Bearer <${scope ? "API key" : "agent token"}>\``,
            ),
      );
    if (!scope) {
      c.set("agentToken", bearer.token);
      return next();
    }
    const result = await authenticate(deps, bearer.token, scope);
    if ("status" in result)
      return result.status === 401
        ? withChallenge(problem(c, 401, result.code, result.detail))
        : problem(c, result.status, result.code, result.detail);
    c.set("principal", result);
    return next();
  };
  return Object.assign(check, { [ACCESS]: access });
}

/** Methods that change nothing, which a cookie may authenticate without a CSRF token. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Authenticates a request by its session cookie; the refusal to answer with, if any. */
async function withSession(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  cookie: string,
  scope: Scope,
): Promise<Response | undefined> {
  const session = await sessionOf(deps, cookie);
  if ("status" in session) return problem(c, session.status, session.code, session.detail);
  if (!SAFE_METHODS.has(c.req.method)) {
    if (!fromOwnOrigin(c))
      return problem(
        c,
        403,
        "auth.cross_origin",
        "a request signed in by the session cookie must come from this origin",
      );
    const token = c.req.header(CSRF_HEADER);
    if (token === undefined || !safeEqual(token, session.csrf))
      return problem(
        c,
        403,
        "auth.csrf",
        `a request signed in by the session cookie must carry its CSRF token in ${CSRF_HEADER}`,
      );
  }
  const refused = checkScope(session.principal, scope);
  if (refused) return problem(c, refused.status, refused.code, refused.detail);
  c.set("principal", session.principal);
  c.set("session", session);
  return undefined;
}

/**
 * Whether a browser request comes from this origin: `Sec-Fetch-Site: same-origin` where the browser
 * sends it, else an `Origin` whose host is the request's own. Neither: not from a page of ours.
 */
export function fromOwnOrigin(c: Context<ApiEnv>): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin";
  const origin = c.req.header("origin");
  if (!origin) return false;
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** A page asked for without a session: the sign-in form, which comes back here afterwards. */
function toSignIn(c: Context<ApiEnv>): Response {
  const url = new URL(c.req.url);
  return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
}

/**
 * A `public` route that tells more to a caller holding `scope`. Without an Authorization header the
 * request goes on as anyone's, with no principal; with one, the header is checked exactly as on a
 * `scope` route (401 for a key that is not valid, 403 for one without the scope) and the request
 * carries its principal. The handler decides what the principal may see.
 */
export function authorizeIfPresented(deps: ApiDeps, scope: Scope): AccessMiddleware {
  const checked = authorize(deps, scope);
  const check: MiddlewareHandler<ApiEnv> = (c, next) =>
    c.req.header("authorization") === undefined ? next() : checked(c, next);
  return Object.assign(check, { [ACCESS]: "public" as const });
}

/** Every route of an app with the access its chain enforces (undefined: none declared). */
export function routeAccess(app: Hono<ApiEnv>): { method: string; path: string; access?: Access }[] {
  const routes = new Map<string, { method: string; path: string; access?: Access }>();
  for (const r of app.routes) {
    // Middleware registered with `use` (method ALL) guards paths but is no route of its own.
    if (r.method === "ALL") continue;
    const key = `${r.method} ${r.path}`;
    const entry = routes.get(key) ?? { method: r.method, path: r.path };
    const access = (r.handler as Partial<AccessMiddleware>)[ACCESS];
    if (access !== undefined) entry.access = access;
    routes.set(key, entry);
  }
  return [...routes.values()];
}

function withChallenge(response: Response): Response {
  response.headers.set("www-authenticate", 'Bearer realm="slipway"');
  return response;
}
