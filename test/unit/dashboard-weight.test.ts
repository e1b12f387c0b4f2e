import { describe, expect, it } from "vitest";
import { assetGzipSize } from "../../functions/routes/dashboard/assets.js";
import { DASHBOARD_ASSETS, type AssetName } from "../../functions/routes/dashboard/assets-list.js";
import { Layout, type Viewer } from "../../functions/routes/dashboard/layout.js";
import {
  HomePage,
  PipelinePage,
  ReleasePageView,
  RuntimesPage,
  SignInPage,
} from "../../functions/routes/dashboard/pages.js";
import type { PipelineView, ReleasePage } from "../../functions/services/dashboard.js";

/**
 * The page-weight budget: all the JavaScript the dashboard's pages make a browser load, gzipped as
 * /assets/ serves it, is at most 100 KB. The scripts are found by rendering every page (not /docs,
 * which is Swagger UI) and reading its <script> tags, so a script any page adds is counted too.
 */

const MAX_JS_GZIP_BYTES = 100 * 1024;

const viewer: Viewer = {
  principal: { actor: { kind: "user", id: "admin" }, scopes: ["admin"] },
  csrf: "csrf-token",
  now: Date.parse("2026-01-01T00:00:00Z"),
};
const createdAt = "2025-12-31T23:00:00Z";
const summary = {
  releaseId: "rel-1",
  application: "shop",
  service: "api",
  params: { image: "registry.example.com/shop/api:1.0.0" },
  cause: "ci" as const,
  createdAt,
  status: "active" as const,
  channels: [],
};
const pipeline: PipelineView = {
  application: "shop",
  channels: [{ name: "staging" }, { name: "production" }],
  rows: [
    {
      service: "api",
      cells: [
        {
          channel: "staging",
          state: "converged",
          rollback: false,
          current: summary,
          currentId: "rel-1",
          runtimes: [{ runtime: "k8s-staging", instructionId: "i-1", releaseId: "rel-1", status: "succeeded" }],
          waiting: [],
          moreWaiting: 0,
        },
        {
          channel: "production",
          state: "idle",
          rollback: false,
          runtimes: [],
          waiting: [
            {
              releaseId: "rel-1",
              summary,
              reasons: ["manualApproval"],
              gates: [{ key: "manualApproval:default", result: { state: "blocked", reason: "awaiting approval" } }],
            },
          ],
          moreWaiting: 0,
        },
      ],
    },
  ],
};
// Only what the release page reads when the release has no channels and no timeline.
const release = {
  release: { ...summary, channels: [] },
  timeline: [],
  channels: [],
} as unknown as ReleasePage;

const pages = {
  "sign in": SignInPage({ next: "/" }),
  applications: HomePage({ viewer, applications: [{ name: "shop", channels: ["staging"], services: ["api"] }] }),
  "no applications": HomePage({ viewer, applications: [] }),
  pipeline: PipelinePage({ viewer, view: pipeline }),
  release: ReleasePageView({ viewer, page: release }),
  runtimes: RuntimesPage({ viewer, runtimes: [] }),
  "not found": Layout({ title: "Not found", viewer, children: "gone" }),
};

async function scriptsOf(): Promise<{ srcs: Map<string, string[]>; inline: string[] }> {
  const srcs = new Map<string, string[]>();
  const inline: string[] = [];
  for (const [name, element] of Object.entries(pages)) {
    const html = String(await element);
    expect(html, name).toContain("</html>");
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) {
      const src = /\bsrc="([^"]+)"/.exec(tag)?.[1];
      if (src === undefined) inline.push(name);
      else srcs.set(src, [...(srcs.get(src) ?? []), name]);
    }
  }
  return { srcs, inline };
}

describe("the dashboard's page weight", () => {
  it("loads only scripts of its own, none inline", async () => {
    const { srcs, inline } = await scriptsOf();
    expect(inline).toEqual([]);
    expect(srcs.size).toBeGreaterThan(0);
    const known = new Set<string>(DASHBOARD_ASSETS.map((a) => a.name));
    for (const src of srcs.keys()) expect(known.has(/^\/assets\/([^?]+)/.exec(src)?.[1] ?? src), src).toBe(true);
  });

  it("ships at most 100 KB of JavaScript, gzipped, across all its pages", async () => {
    const { srcs } = await scriptsOf();
    const names = [...new Set([...srcs.keys()].map((src) => /^\/assets\/([^?]+)/.exec(src)![1]! as AssetName))];
    // Every page loads the client script; Swagger UI is /docs's alone.
    expect(names).toContain("client.js");
    expect(names).not.toContain("swagger-ui-bundle.js");
    const total = names.reduce((n, name) => n + assetGzipSize(name), 0);
    expect(total).toBeGreaterThan(0);
    expect(total, `${names.join(", ")}: ${total} bytes gzipped`).toBeLessThanOrEqual(MAX_JS_GZIP_BYTES);
  });
});
