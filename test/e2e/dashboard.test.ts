import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { browserAvailability, launchBrowser, noBrowser } from "../support/browser.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * The dashboard end to end: the system's Chromium driving the pages of a real local stack (DynamoDB
 * Local, the stream and queue consumers, two fake agents) through sign-in, live refresh, approval,
 * rollback, a read-only viewer and forged requests. The tests run in order and build on each other:
 * one application, releases 1.0.0, 2.0.0 and 3.0.0 of its service.
 */

const availability = browserAvailability();
const APP = "dashboard-e2e";
const SERVICE = `${APP}-api`;
/** How long a condition in the browser or the log may take to come about on a loaded machine. */
const WAIT_MS = 45_000;
const TEST_MS = 180_000;
const SHOTS = fileURLToPath(new URL("./screenshots/", import.meta.url));

describe.runIf(!availability.available)("the dashboard in a browser", () => {
  it("needs Chromium", (ctx) => {
    if (!availability.available) noBrowser(availability, (note) => ctx.skip(note));
  });
});

describe.runIf(availability.available)("the dashboard in a browser", () => {
  let p: Pipeline;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  let viewerKey: string;
  /** Uncaught errors and console errors of every page, checked after each test. */
  const pageErrors: string[] = [];
  /** The text of every dialog (window.confirm) a page opened; each was accepted. */
  const dialogs: string[] = [];
  const releases: { r1?: string; r2?: string; r3?: string } = {};

  const url = (path: string) => `${p.stack.httpUrl}${path}`;
  const shot = (target: Page, name: string) => target.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  async function newContext(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const opened = await context.newPage();
    watch(opened);
    return { context, page: opened };
  }
  function watch(target: Page): void {
    target.on("pageerror", (err) => pageErrors.push(`${target.url()}: ${err.message}`));
    target.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(`${target.url()}: console: ${m.text()}`);
    });
    target.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    p = await openPipeline("e2e-dashboard");
    // Production waits for a person's approval only (no soak), so a release can go through.
    await p.application(APP, { production: { preconditions: [{ manualApproval: {} }] } });
    browser = await launchBrowser(availability);
    ({ context: admin, page } = await newContext());
  });
  afterAll(async () => {
    await browser?.close();
    await p?.close();
  });
  afterEach(() => {
    expect(pageErrors.splice(0), "errors in the pages").toEqual([]);
  });

  it(
    "signs in by keyboard with the admin key: an HttpOnly SameSite=Strict session cookie, no key kept in the page",
    async () => {
      await page.goto(url(`/apps/${APP}`));
      // Without a session the page sends the browser to the sign-in form, which comes back afterwards.
      expect(new URL(page.url()).pathname).toBe("/login");
      expect(new URL(page.url()).searchParams.get("next")).toBe(`/apps/${APP}`);
      expect(await unlabelled(page)).toEqual([]);
      const field = page.getByLabel("API key");
      expect(await field.getAttribute("type")).toBe("password");
      const id = (await field.getAttribute("id"))!;

      await focusByTab(page, id);
      await page.keyboard.type(p.secrets.adminApiKey);
      await shot(page, "01-sign-in");
      await page.keyboard.press("Enter");
      await page.waitForURL(url(`/apps/${APP}`), { timeout: WAIT_MS });
      expect(await page.locator("h1").textContent()).toBe(APP);

      const cookies = await admin.cookies(p.stack.httpUrl);
      const session = cookies.find((c) => c.name === "slipway_session");
      expect(session, JSON.stringify(cookies)).toBeDefined();
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
      expect(session!.value).not.toContain(p.secrets.adminApiKey);
      // Scripts of the page cannot read the session, and the page keeps no key anywhere.
      expect(await page.evaluate("document.cookie")).not.toContain("slipway_session");
      expect(await page.evaluate("localStorage.length + sessionStorage.length")).toBe(0);
      const storage = await page.evaluate("JSON.stringify([{ ...localStorage }, { ...sessionStorage }])");
      expect(storage).not.toContain(p.secrets.adminApiKey);
      expect(await page.content()).not.toContain(p.secrets.adminApiKey);
      await shot(page, "02-pipeline-empty");
    },
    TEST_MS,
  );

  it(
    "shows a release from CI on the open pipeline page without a reload, and it goes live in staging",
    async () => {
      await page.waitForSelector("html[data-live=open]", { state: "attached", timeout: WAIT_MS });
      await page.evaluate("window.__slipwayMarker = 'no reload'");
      const refreshedBefore = await refreshCount(page);
      let navigations = 0;
      page.on("framenavigated", (f) => {
        if (f === page.mainFrame()) navigations++;
      });
      const staging = page.locator('td[data-channel="staging"]');
      expect(await staging.textContent()).toContain("nothing deployed");

      const r1 = await p.release(APP, "1.0.0");
      releases.r1 = r1;
      await staging.locator(`.current.tone-converged a.rid[title="${r1}"]`).waitFor({ timeout: WAIT_MS });
      expect(await staging.locator(".current .badge").first().textContent()).toContain("converged");
      expect(await staging.textContent()).toContain("1.0.0");
      expect(await p.convergedOn(APP, "staging", r1)).toBe(true);
      // Then it waits for approval in production, with its approval chip.
      const waiting = page.locator('td[data-channel="production"] ul.waiting li', {
        has: page.locator(`a.rid[title="${r1}"]`),
      });
      await waiting.locator(".chip", { hasText: "approval" }).waitFor({ timeout: WAIT_MS });
      expect(await waiting.locator(".chip").first().textContent()).toContain("0 of 1");

      // The page was refreshed in place: no navigation, the marker set before is still there.
      expect(await page.evaluate("window.__slipwayMarker")).toBe("no reload");
      expect(navigations).toBe(0);
      expect(await refreshCount(page)).toBeGreaterThan(refreshedBefore);
      expect(new URL(page.url()).pathname).toBe(`/apps/${APP}`);
      await shot(page, "03-pipeline-live");
    },
    TEST_MS,
  );

  it(
    "approves in production from the release page, by keyboard, and production converges",
    async () => {
      const r1 = releases.r1!;
      await eventually(async () => (await p.releaseEvents(r1)).some((e) => e.type === "ApprovalRequested"), WAIT_MS);
      await page.goto(url(`/releases/${r1}`));
      await page.waitForSelector("html[data-live=open]", { state: "attached", timeout: WAIT_MS });
      expect(await unlabelled(page)).toEqual([]);
      await page.evaluate("window.__slipwayMarker = 'no reload'");
      const production = channelSection(page, "production");
      expect(await production.locator("h3 .badge").first().textContent()).toContain("waiting");

      const form = page.getByRole("form", { name: "Approve in production" });
      await form.waitFor({ timeout: WAIT_MS });
      const comment = form.getByLabel("Comment");
      await comment.focus();
      await page.keyboard.type("fine in staging");
      await page.keyboard.press("Tab");
      expect(await page.evaluate("document.activeElement.textContent.trim()")).toBe("Approve");
      await shot(page, "04-release-approve");
      await page.keyboard.press("Enter");

      await eventually(() => p.convergedOn(APP, "production", r1), WAIT_MS);
      const granted = (await p.releaseEvents(r1)).filter((e) => e.type === "ApprovalGranted");
      expect(granted).toHaveLength(1);
      expect(granted[0]!.data).toMatchObject({ channel: "production", approval: "approval" });
      // The page follows without a reload: production converged, the form gone, the timeline says so.
      await production.locator("h3 .badge.tone-converged").waitFor({ timeout: WAIT_MS });
      await page
        .locator("ol.timeline li", { hasText: `production: ${r1} converged` })
        .first()
        .waitFor({ timeout: WAIT_MS });
      expect(await page.getByRole("form", { name: "Approve in production" }).count()).toBe(0);
      expect(await page.evaluate("window.__slipwayMarker")).toBe("no reload");
      await shot(page, "05-release-converged");
    },
    TEST_MS,
  );

  it(
    "rolls production back from the page of a second release to the first",
    async () => {
      const r1 = releases.r1!;
      const r2 = await p.release(APP, "2.0.0");
      releases.r2 = r2;
      await approveInProduction(r2);
      await eventually(() => p.convergedOn(APP, "production", r2), WAIT_MS);

      await page.goto(url(`/releases/${r2}`));
      await page.waitForSelector("html[data-live=open]", { state: "attached", timeout: WAIT_MS });
      expect(await unlabelled(page)).toEqual([]);
      const form = page.getByRole("form", { name: "Roll back in production" });
      await form.waitFor({ timeout: WAIT_MS });
      const target = form.getByLabel("Roll back to");
      expect(await target.locator("option").allTextContents()).toContain(r1);
      await target.selectOption(r1);
      await form.getByLabel("Reason").fill("errors after 2.0.0");
      await shot(page, "06-release-rollback");
      const before = dialogs.length;
      await form.getByRole("button", { name: "Roll back" }).click();

      await eventually(
        async () =>
          (await p.channelEvents(APP, "production")).some(
            (e) => e.type === "ReleaseRolledBack" && e.data.fromReleaseId === r2 && e.data.toReleaseId === r1,
          ),
        WAIT_MS,
      );
      // It asked first.
      expect(dialogs.slice(before)).toEqual([`Roll ${SERVICE} in production back?`]);
      const rolledBack = (await p.channelEvents(APP, "production")).find((e) => e.type === "ReleaseRolledBack");
      expect(rolledBack?.data).toMatchObject({ service: SERVICE, reason: "errors after 2.0.0" });
      await eventually(() => p.convergedOn(APP, "production", r1, 2), WAIT_MS);

      // The page no longer offers to roll r2 back in production: it does not run there now.
      await page
        .getByRole("form", { name: "Roll back in production" })
        .waitFor({ state: "detached", timeout: WAIT_MS });
      await page.evaluate("window.__slipwayMarker = 'no reload'");

      // In another window (so the open page keeps its focus): the first release's page tells of the
      // rollback, and the pipeline shows r1 back in production.
      const { context: second, page: other } = await newContext();
      await second.addCookies(await admin.cookies(p.stack.httpUrl));
      try {
        await other.goto(url(`/releases/${r1}`));
        await other
          .locator("ol.timeline li", {
            hasText: `production: ${SERVICE} rolled back from ${r2} to ${r1}: errors after 2.0.0`,
          })
          .waitFor({ timeout: WAIT_MS });
        await other.goto(url(`/apps/${APP}`));
        const cell = other.locator('td[data-channel="production"] .current');
        await cell.locator(`a.rid[title="${r1}"]`).waitFor({ timeout: WAIT_MS });
        expect(await cell.locator(".badge").first().textContent()).toContain("converged (rollback)");
        await shot(other, "08-pipeline-rolled-back");
      } finally {
        await second.close();
      }

      // And the open page of r2 follows without a reload: it was rolled back in production. (Fails
      // when the client's refresh right after the POST reads the release summary before the
      // projector updated it: /ui/live?release=r2 tells of no later change, since the feed files
      // ReleaseRolledBack and the rollback's instructions under the release rolled back *to*.)
      try {
        await channelSection(page, "production")
          .locator("h3 .badge", { hasText: /rolled ?back/i })
          .waitFor({ timeout: WAIT_MS });
      } finally {
        await shot(page, "07-release-rolled-back");
      }
      expect(await page.evaluate("window.__slipwayMarker")).toBe("no reload");
    },
    TEST_MS,
  );

  it(
    "signs in a key that may only read, by keyboard, and shows it no actions",
    async () => {
      const r3 = await p.release(APP, "3.0.0");
      releases.r3 = r3;
      await eventually(
        async () =>
          (await p.releaseEvents(r3)).some((e) => e.type === "ApprovalRequested" && e.data.channel === "production"),
        WAIT_MS,
      );
      // An admin sees the actions on the release…
      await page.goto(url(`/releases/${r3}`));
      expect(await page.getByRole("button", { name: "Approve", exact: true }).count()).toBe(1);
      expect(await page.locator("main form[data-api]").count()).toBeGreaterThan(0);

      const issued = await p.api("/v1/api-keys", { method: "POST", body: { name: "viewer", scopes: ["read"] } });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
      viewerKey = issued.body.key as string;
      const { context, page: viewer } = await newContext();
      try {
        await viewer.goto(url("/login"));
        await focusByTab(viewer, (await viewer.getByLabel("API key").getAttribute("id"))!);
        await viewer.keyboard.type(viewerKey);
        await viewer.keyboard.press("Tab");
        expect(await viewer.evaluate("document.activeElement.textContent.trim()")).toBe("Sign in");
        await viewer.keyboard.press("Enter");
        await viewer.waitForURL(url("/"), { timeout: WAIT_MS });
        expect(await viewer.locator("header .who").textContent()).toContain("viewer (read)");
        await viewer.getByRole("link", { name: APP, exact: true }).waitFor();

        // …the viewer sees the same release and none of them.
        await viewer.goto(url(`/releases/${r3}`));
        await channelSection(viewer, "production").locator(".gates .chip", { hasText: "approval" }).waitFor();
        for (const name of ["Approve", "Reject", "Roll back", "Mark bad", "Abandon", "Pause", "Resume", "Override"]) {
          expect(await viewer.getByRole("button", { name }).count(), name).toBe(0);
          expect(await viewer.locator("main summary", { hasText: name }).count(), name).toBe(0);
        }
        expect(await viewer.locator("main form").count()).toBe(0);
        await shot(viewer, "09-viewer-release");
        await viewer.goto(url(`/apps/${APP}`));
        expect(await viewer.locator("main form, main button").count()).toBe(0);
        await shot(viewer, "10-viewer-pipeline");
        expect(await viewer.evaluate("localStorage.length + sessionStorage.length")).toBe(0);
      } finally {
        await context.close();
      }
    },
    TEST_MS,
  );

  it(
    "offers the interactive API reference at /docs, served by Slipway itself",
    async () => {
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(url("/docs"));
      await page.locator(".opblock").first().waitFor({ timeout: WAIT_MS });
      expect(await page.locator(".opblock").count()).toBeGreaterThan(20);
      expect(await page.locator(".opblock-tag", { hasText: "Releases" }).count()).toBe(1);
      // Nothing comes from anywhere but Slipway.
      expect(requests.filter((r) => !r.startsWith(p.stack.httpUrl) && !r.startsWith("data:"))).toEqual([]);
      await shot(page, "12-docs");
    },
    TEST_MS,
  );

  it(
    "reads at 390 px as at 1280 px: no page scrolls sideways",
    async () => {
      const narrow = await browser.newContext({
        viewport: { width: 390, height: 844 },
        storageState: await admin.storageState(),
      });
      try {
        const phone = await narrow.newPage();
        watch(phone);
        for (const path of ["/", `/apps/${APP}`, `/releases/${releases.r2!}`, "/runtimes"]) {
          await phone.goto(url(path));
          expect(new URL(phone.url()).pathname, "still signed in").toBe(path);
          expect(await phone.evaluate("document.documentElement.scrollWidth"), path).toBeLessThanOrEqual(390);
        }
        // The runtimes page says what Slipway deployed to each runtime, linked to the release.
        const staging = phone.locator("tr", { has: phone.locator("th", { hasText: "k8s-staging" }) });
        expect(await staging.textContent()).toContain(`${SERVICE} in staging`);
        expect(await staging.locator("a.rid").count()).toBeGreaterThan(0);
        await shot(phone, "11-runtimes-390");
      } finally {
        await narrow.close();
      }
    },
    TEST_MS,
  );

  it(
    "refuses a forged POST with a session cookie: no CSRF token, or from another origin; nothing appended",
    async () => {
      const r3 = releases.r3!;
      const action = `/v1/releases/${r3}/channels/production/approvals`;
      const body = JSON.stringify({ decision: "approve" });
      await page.goto(url(`/releases/${r3}`));
      const csrf = await page.locator('meta[name="slipway-csrf"]').getAttribute("content");
      expect(csrf).toBeTruthy();
      const cookie = async (context: BrowserContext) =>
        `slipway_session=${(await context.cookies(p.stack.httpUrl)).find((c) => c.name === "slipway_session")!.value}`;
      const adminCookie = await cookie(admin);
      const post = async (headers: Record<string, string>) => {
        const res = await fetch(url(action), {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body,
        });
        const answer = (await res.json()) as { code?: string };
        return { status: res.status, code: answer.code };
      };
      const before = await logSize();

      // A script in the page itself, without the token (the browser sends Sec-Fetch-Site: same-origin).
      const errorsBefore = pageErrors.length;
      const inPage = await page.evaluate(`fetch(${JSON.stringify(action)}, {
        method: "POST", headers: { "content-type": "application/json" }, body: ${JSON.stringify(body)}
      }).then(async (r) => ({ status: r.status, code: (await r.json()).code }))`);
      expect(inPage).toEqual({ status: 403, code: "auth.csrf" });
      // The browser logs the refused request; that one is expected.
      pageErrors.splice(
        errorsBefore,
        pageErrors.length - errorsBefore,
        ...pageErrors.slice(errorsBefore).filter((e) => !e.includes("status of 403")),
      );
      // From outside with the cookie, from the right origin but without the token.
      expect(await post({ cookie: adminCookie, origin: p.stack.httpUrl })).toEqual({ status: 403, code: "auth.csrf" });
      expect(await post({ cookie: adminCookie, origin: p.stack.httpUrl, "x-slipway-csrf": "forged" })).toEqual({
        status: 403,
        code: "auth.csrf",
      });
      // With the token, but from another site.
      expect(await post({ cookie: adminCookie, "x-slipway-csrf": csrf!, origin: "https://evil.example" })).toEqual({
        status: 403,
        code: "auth.cross_origin",
      });
      expect(
        await post({
          cookie: adminCookie,
          "x-slipway-csrf": csrf!,
          origin: p.stack.httpUrl,
          "sec-fetch-site": "cross-site",
        }),
      ).toEqual({ status: 403, code: "auth.cross_origin" });
      expect(await post({ cookie: adminCookie, "x-slipway-csrf": csrf! })).toEqual({
        status: 403,
        code: "auth.cross_origin",
      });
      // A sign-in posted from another site sets no cookie.
      const login = await fetch(url("/login"), {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
        body: new URLSearchParams({ key: p.secrets.adminApiKey, next: "/" }).toString(),
      });
      expect(login.status).toBe(403);
      expect(login.headers.get("set-cookie")).toBeNull();

      expect(await logSize()).toBe(before);
      expect((await p.releaseEvents(r3)).some((e) => e.type === "ApprovalGranted")).toBe(false);

      // The same request with the token, from the dashboard's origin, is the one that counts.
      expect(await post({ cookie: adminCookie, "x-slipway-csrf": csrf!, origin: p.stack.httpUrl })).toEqual({
        status: 200,
        code: undefined,
      });
      expect((await p.releaseEvents(r3)).some((e) => e.type === "ApprovalGranted")).toBe(true);
      expect(await logSize()).toBeGreaterThan(before);
    },
    TEST_MS,
  );

  /** Approves a release in production through the API once it waits there. */
  async function approveInProduction(releaseId: string): Promise<void> {
    await eventually(
      async () =>
        (await p.releaseEvents(releaseId)).some(
          (e) => e.type === "ApprovalRequested" && e.data.channel === "production",
        ),
      WAIT_MS,
    );
    const res = await p.api(`/v1/releases/${releaseId}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  /** How many items the event log holds (events and command markers alike). */
  async function logSize(): Promise<number> {
    const client = new DynamoDBClient({
      endpoint: p.stack.dynamoEndpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      let count = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({ TableName: p.stack.tables.events, Select: "COUNT", ExclusiveStartKey: start }),
        );
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      return count;
    } finally {
      client.destroy();
    }
  }
});

/** A channel's section of a release page. */
function channelSection(page: Page, channel: string): Locator {
  return page.locator("section.channel", { has: page.locator("h3", { hasText: new RegExp(`^${channel}\\b`) }) });
}

/** How many times the client refreshed the page in place. */
async function refreshCount(page: Page): Promise<number> {
  return Number(await page.evaluate("document.documentElement.dataset.refreshed ?? 0"));
}

/** Moves the focus to the element with id `id` with the Tab key, as someone without a mouse does. */
async function focusByTab(page: Page, id: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    if ((await page.evaluate("document.activeElement?.id")) === id) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`the Tab key never reached #${id}`);
}

/** The form controls of a page that have no accessible name (a label, aria-label or, for buttons, text). */
async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const missing = [];
    const named = (el) => {
      const labels = el.labels ? [...el.labels].map((l) => l.textContent.trim()).join(" ") : "";
      const by = (el.getAttribute("aria-labelledby") ?? "")
        .split(/\\s+/)
        .map((id) => document.getElementById(id)?.textContent.trim() ?? "")
        .join(" ");
      const own = el.tagName === "BUTTON" || el.tagName === "SUMMARY" ? el.textContent.trim() : "";
      return (labels + by + own + (el.getAttribute("aria-label") ?? "") + (el.getAttribute("title") ?? "")).trim();
    };
    for (const el of document.querySelectorAll('input:not([type="hidden"]), select, textarea, button, summary, form[data-api]'))
      if (!named(el)) missing.push(el.outerHTML.slice(0, 160));
    return missing;
  })()`);
}
