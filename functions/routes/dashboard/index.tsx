/** @jsxImportSource hono/jsx */
import { gzipSync } from "node:zlib";
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import type { JSX } from "hono/jsx/jsx-runtime";
import { DomainError, type FeedFilter } from "../../../core/index.js";
import { decodeCursor } from "../../services/cursor.js";
import { pipelineView, releasePage, runtimesPage } from "../../services/dashboard.js";
import { listApplications } from "../../services/queries.js";
import { nowOf, type ApiDeps } from "../../services/deps.js";
import { feedNow, followChanges } from "../../services/feed.js";
import { SESSION_COOKIE, SESSION_TTL_S, sessionOf, signIn } from "../../services/sessions.js";
import { authorize, fromOwnOrigin } from "../access.js";
import type { ApiEnv } from "../context.js";
import { serveAsset } from "./assets.js";
import { Layout, type Viewer } from "./layout.js";
import { DocsPage, HomePage, PipelinePage, ReleasePageView, RuntimesPage, SignInPage } from "./pages.js";

/**
 * The dashboard, served by the HTTP function itself: server-rendered pages (Hono JSX) for the
 * pipeline of each application, each release and the runtimes; a small client script that sends
 * the pages' actions to the HTTP API and refreshes a page when the log says something it shows
 * changed (/ui/live); the sign-in that exchanges an API key for a session cookie; and Swagger UI
 * for the OpenAPI document at /docs. Pages need a session (or key) that may `read`.
 */

/** The request header the client sets to get only a page's main content, for a refresh in place. */
const FRAGMENT_HEADER = "x-slipway-fragment";
/** How often /ui/live looks at the feed, and how long one stream lasts (API Gateway cuts responses at 30 s). */
const LIVE_POLL_MS = 200;
const LIVE_STREAM_MS = 25_000;
const LIVE_KEEPALIVE_MS = 15_000;
/** How far back a page's `since` may reach. */
const LIVE_SINCE_MAX_MS = 60_000;

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
// Swagger UI sets inline styles and loads the document with fetch.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

export function registerDashboard(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const anyone = authorize(deps, "public");
  const page = authorize(deps, "page");

  app.get("/assets/:name", anyone, (c) => serveAsset(c, c.req.param("name")));
  app.get("/docs", anyone, (c) => html(c, <DocsPage />, 200, DOCS_CSP));

  app.get("/login", anyone, async (c) => {
    const next = safeNext(c.req.query("next"));
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie && !("status" in (await sessionOf(deps, cookie)))) return c.redirect(next, 303);
    return html(c, <SignInPage next={next} />);
  });

  app.post("/login", anyone, async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    // A sign-in posted from another site would sign the browser in as someone else's key.
    if (!fromOwnOrigin(c)) return html(c, <SignInPage next={next} error="Sign in from this page." />, 403);
    const key = typeof form.key === "string" ? form.key.trim() : "";
    if (!key) return html(c, <SignInPage next={next} error="Enter an API key." />, 400);
    const session = await signIn(deps, key);
    if ("status" in session) return html(c, <SignInPage next={next} error={session.detail} />, session.status);
    setCookie(c, SESSION_COOKIE, session.token, {
      httpOnly: true,
      secure: !isLocalhost(c),
      sameSite: "Strict",
      path: "/",
      maxAge: SESSION_TTL_S,
    });
    return c.redirect(next, 303);
  });

  app.post("/logout", anyone, (c) => {
    if (!fromOwnOrigin(c)) return c.text("sign out from the dashboard", 403);
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: !isLocalhost(c), sameSite: "Strict", httpOnly: true });
    return c.redirect("/login", 303);
  });

  app.get("/", page, (c) =>
    render(c, async (viewer) => <HomePage viewer={viewer} applications={await listApplications(deps)} />),
  );
  app.get("/apps/:app", page, (c) =>
    render(c, async (viewer) => <PipelinePage viewer={viewer} view={await pipelineView(deps, c.req.param("app"))} />),
  );
  app.get("/releases/:id", page, (c) =>
    render(c, async (viewer) => <ReleasePageView viewer={viewer} page={await releasePage(deps, c.req.param("id"))} />),
  );
  app.get("/runtimes", page, (c) =>
    render(c, async (viewer) => <RuntimesPage viewer={viewer} runtimes={await runtimesPage(deps)} />),
  );

  // Tells an open page that something it shows changed. A stream ends after the first change (so
  // behind API Gateway, which hands a response over when it is complete, the page still hears of
  // it at once) or after LIVE_STREAM_MS; the browser reconnects with Last-Event-ID.
  app.get("/ui/live", authorize(deps, "read"), (c) => {
    const application = c.req.query("application");
    const release = c.req.query("release");
    const filter: FeedFilter = {
      ...(application ? { application } : {}),
      ...(release ? { releaseId: release } : {}),
    };
    // Where to start: after the last change this page heard of; else from the instant the page was
    // rendered (`since`, settle time included, at most a minute ago); else now.
    const resume = c.req.header("last-event-id");
    const since = Date.parse(c.req.query("since") ?? "");
    const earliest = nowOf(deps).getTime() - LIVE_SINCE_MAX_MS;
    const from =
      (resume ? decodeCursor("events", resume)?.after : undefined) ??
      (Number.isNaN(since) ? feedNow(deps, 0) : `${new Date(Math.max(since, earliest)).toISOString()}#`);
    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      stream.onAbort(() => stop.abort());
      await stream.write("retry: 250\n\n");
      let quietSince = Date.now();
      const changes = followChanges(deps, from, filter, {
        signal: stop.signal,
        until: Date.now() + LIVE_STREAM_MS,
        pollMs: LIVE_POLL_MS,
      });
      for await (const events of changes) {
        if (events.length > 0) {
          await stream.writeSSE({
            event: "change",
            id: events.at(-1)!.cursor,
            data: JSON.stringify({ types: [...new Set(events.map((e) => e.type))] }),
          });
          stop.abort();
          break;
        }
        if (Date.now() - quietSince >= LIVE_KEEPALIVE_MS) {
          await stream.write(": keepalive\n\n");
          quietSince = Date.now();
        }
      }
    });
  });

  /** Renders a page for the signed-in viewer; only its main content when the client refreshes it in place. */
  async function render(c: Context<ApiEnv>, view: (viewer: Viewer) => Promise<JSX.Element>): Promise<Response> {
    const viewer: Viewer = {
      principal: c.get("principal"),
      csrf: c.get("session")?.csrf ?? "",
      now: nowOf(deps).getTime(),
    };
    try {
      const body = await view(viewer);
      if (c.req.header(FRAGMENT_HEADER) !== "main") return await html(c, body);
      const doc = await markup(body);
      return await html(c, /<main id="main" tabindex="-1">([\s\S]*)<\/main>/.exec(doc)?.[1] ?? doc);
    } catch (err) {
      if (!(err instanceof DomainError) || err.status >= 500) throw err;
      return html(
        c,
        <Layout title="Not found" viewer={viewer}>
          <h1>{err.status === 404 ? "Not found" : "Refused"}</h1>
          <p role="alert">{err.message}</p>
          <p>
            <a href="/">Back to the applications</a>
          </p>
        </Layout>,
        err.status,
      );
    }
  }
}

/** An HTML answer with the headers every page carries: not cached, not framed, no script but ours. */
async function html(c: Context, body: JSX.Element | string, status = 200, csp = PAGE_CSP): Promise<Response> {
  c.header("content-security-policy", csp);
  c.header("cache-control", "no-store");
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "same-origin");
  const text = typeof body === "string" ? body : `<!doctype html>${await markup(body)}`;
  c.header("vary", "accept-encoding");
  // A pipeline page is tens of KB of repetitive markup: gzip makes it a few.
  if (text.length < 1024 || !/\bgzip\b/.test(c.req.header("accept-encoding") ?? ""))
    return c.html(text, status as ContentfulStatusCode);
  c.header("content-encoding", "gzip");
  c.header("content-type", "text/html; charset=UTF-8");
  return c.body(new Uint8Array(gzipSync(text)), status as ContentfulStatusCode);
}

/** A page's markup (its components are synchronous, so an element stringifies to its HTML). */
async function markup(element: JSX.Element): Promise<string> {
  return String(await element);
}

/** Where to go after signing in: a path on this site only. */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])[^\s]*$/.test(next) && !next.startsWith("/login") ? next : "/";
}

function isLocalhost(c: Context): boolean {
  const host = new URL(c.req.url).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
}
