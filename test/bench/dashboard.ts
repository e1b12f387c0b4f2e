import { get } from "node:http";
import { gzipSync } from "node:zlib";
import { releaseDecider, streams, type ChannelView } from "../../core/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { ReadModels } from "../../functions/adapters/read-models.js";
import { SecretStore } from "../../functions/adapters/secret-store.js";
import { assetGzipSize } from "../../functions/routes/dashboard/assets.js";
import type { AssetName } from "../../functions/routes/dashboard/assets-list.js";
import { PipelinePage } from "../../functions/routes/dashboard/pages.js";
import type { ApplicationView } from "../../functions/services/channels.js";
import { applicationView } from "../../functions/services/channels.js";
import { readState } from "../../functions/services/commands.js";
import { readConfig } from "../../functions/services/config.js";
import { pipelineView } from "../../functions/services/dashboard.js";
import type { ApiDeps } from "../../functions/services/deps.js";
import { pool } from "../../functions/services/pool.js";
import { listApplications } from "../../functions/services/queries.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import type { Flow } from "./flow.js";
import { summarize, type Summary } from "./stats.js";

/**
 * The dashboard as a user first opens it: the full HTML of GET /apps/<app> for an application of 4
 * channels (each on its runtime, an agent on each) and 20 services, every cell holding a converged
 * release and some with releases waiting at production's manual approval — sequential requests with
 * the admin key, against the DynamoDB PutItem floor. Then the same reads and render in-process,
 * stage by stage, to say where the time goes. And the JS the dashboard's pages make a browser load.
 */

const APP = "dash20";
const CHANNELS = ["dev", "test", "staging", "production"] as const;
const SERVICES = Array.from({ length: 20 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
/** Services with a second release waiting at production's approval; the first two a third one too. */
const WAITING = SERVICES.slice(0, 6);
const TWICE = SERVICES.slice(0, 2);
const TARGET_MS = 300;
const MAX_JS_GZIP_BYTES = 100 * 1024;

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const runtimeOf = (channel: string) => `dash-${channel}`;

const manifest =
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{.Builtins.Service}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{.Params.image}}"\n';

/** Applies the application, links its runtimes and connects their agents, and sends its releases. */
export async function setUp(flow: Flow, log: (line: string) => void): Promise<string[]> {
  await flow.applyConfigs([
    ...CHANNELS.map((c) => ({ runtime: { name: runtimeOf(c), kubernetes: {} } })),
    {
      application: {
        name: APP,
        releaseChannels: CHANNELS.map((name) => ({
          name,
          runtimes: [{ runtime: runtimeOf(name) }],
          ...(name === "production" ? { preconditions: [{ manualApproval: {} }] } : {}),
        })),
      },
    },
    ...SERVICES.map((name) => ({
      service: {
        name,
        application: APP,
        parameters: [{ name: "image", type: "dockerImage", required: true }],
        kubernetesConfig: { manifests: [manifest] },
      },
    })),
  ]);
  for (const c of CHANNELS) await flow.agent(runtimeOf(c));

  const release = async (service: string, tag: string) => (await flow.webhook(APP, service, tag)).releaseId;
  const view = async () => (await flow.api(`/v1/applications/${APP}`)) as unknown as ApplicationView;
  const until = async (what: string, done: (v: ApplicationView) => boolean, timeoutMs = 240_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!done(await view())) {
      if (Date.now() > deadline) throw new Error(`dashboard: ${what} not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const convergedIn = (v: ApplicationView, channel: string, service: string, releaseId: string) => {
    const s = v.channels.find((c) => c.name === channel)?.services[service];
    return s?.state === "converged" && s.desiredReleaseId === releaseId;
  };
  const waitsIn = (v: ApplicationView, channel: string, releaseId: string) =>
    v.channels.find((c) => c.name === channel)?.waiting.some((w) => w.releaseId === releaseId) ?? false;

  // Round 1: every service, approved for production in advance, converged in all four channels.
  const first = new Map<string, string>();
  await pool(SERVICES.length, 4, async (i) => {
    const service = SERVICES[i]!;
    const id = await release(service, "1.0.0");
    await flow.api(`/v1/releases/${id}/channels/production/approvals`, "POST", JSON.stringify({ decision: "approve" }));
    first.set(service, id);
  });
  await until("20 services converged in 4 channels", (v) =>
    SERVICES.every((s) => CHANNELS.every((c) => convergedIn(v, c, s, first.get(s)!))),
  );
  log(`dashboard: ${SERVICES.length} services converged in ${CHANNELS.length} channels`);

  // Round 2: newer releases of some services, through staging and waiting for production's approval.
  const newest = new Map<string, string>();
  for (const [tag, services] of [
    ["1.1.0", WAITING],
    ["1.2.0", TWICE],
  ] as const) {
    await pool(services.length, 4, async (i) => void newest.set(services[i]!, await release(services[i]!, tag)));
    await until(`releases ${tag} waiting for production`, (v) =>
      services.every((s) => convergedIn(v, "staging", s, newest.get(s)!) && waitsIn(v, "production", newest.get(s)!)),
    );
  }
  const waiting = (await view()).channels.find((c) => c.name === "production")!.waiting;
  log(`dashboard: ${waiting.length} releases waiting for production's approval`);
  await new Promise((r) => setTimeout(r, 2000)); // let reports and projections drain
  return [...first.values(), ...newest.values()];
}

/** A GET of a page with the admin key: its status, time to the last byte, and body. */
async function page(flow: Flow, path: string): Promise<{ ms: number; html: string }> {
  const t = performance.now();
  const res = await fetch(`${flow.stack.httpUrl}${path}`, {
    headers: { authorization: `Bearer ${flow.secrets.adminApiKey}` },
  });
  const html = await res.text();
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${html.slice(0, 300)}`);
  return { ms, html };
}

/** Times `f`, into `into[stage]`. */
async function timed<T>(into: Record<string, number[]>, stage: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const value = await f();
  (into[stage] ??= []).push(performance.now() - t);
  return value;
}

/**
 * pipelineView's reads one after another, then the render, with a container of our own (its
 * readState cache starts empty, as a fresh Lambda's does): the first pass is cold, the rest warm.
 */
async function breakdown(flow: Flow, runs: number) {
  const db = documentClient({
    endpoint: flow.stack.dynamoEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const deps: ApiDeps = {
    store: new EventStore(db, flow.stack.tables.events),
    readModels: new ReadModels(db, flow.stack.tables.readModels),
    secretStore: new SecretStore(db, flow.stack.tables.secrets),
    secrets: flow.secrets,
    checks: {},
  };
  const viewer = { principal: { actor: { kind: "user" as const, id: "admin" }, scopes: ["admin" as const] }, csrf: "" };
  const samples: Record<string, number[]> = {};
  let reads = { summaries: 0, waitingStreams: 0 };
  let shape = {};
  for (let i = 0; i < runs + 1; i++) {
    await timed(samples, "readConfig", () => readConfig(deps));
    await timed(samples, "channelViewsQuery", () => deps.readModels.views<ChannelView>(`app#${APP}`));
    await timed(samples, "waitingQueries", () => Promise.all(CHANNELS.map((c) => deps.readModels.waiting(APP, c))));
    const view = await timed(samples, "applicationView", () => applicationView(deps, APP));
    await timed(samples, "listApplications", () => listApplications(deps));
    const ids = view.channels.flatMap((c) => [
      ...Object.values(c.services).flatMap((s) => (s.desiredReleaseId ? [s.desiredReleaseId] : [])),
      ...c.waiting.map((w) => w.releaseId),
    ]);
    const waiting = view.channels.flatMap((c) => c.waiting.map((w) => w.releaseId));
    reads = { summaries: new Set(ids).size, waitingStreams: waiting.length };
    await timed(samples, "summariesBatchGet", () => deps.readModels.releases.summaries(APP, ids));
    await timed(samples, "readStatePerWaiting", () =>
      Promise.all(waiting.map((id) => readState(deps.store, releaseDecider, streams.release(id)))),
    );
    const pipeline = await timed(samples, "pipelineView", () => pipelineView(deps, APP));
    const cells = pipeline.rows.flatMap((r) => r.cells);
    const gates = cells.flatMap((c) => c.waiting.flatMap((w) => w.gates));
    shape = {
      services: pipeline.rows.length,
      channels: pipeline.channels.length,
      cells: cells.length,
      convergedCells: cells.filter((c) => c.state === "converged").length,
      cellsWithWaiting: cells.filter((c) => c.waiting.length > 0).length,
      waitingReleases: cells.reduce((n, c) => n + c.waiting.length + c.moreWaiting, 0),
      gates: gates.length,
      blockedGates: gates.filter((g) => g.result.state === "blocked").length,
    };
    await timed(samples, "render", async () =>
      String(await PipelinePage({ viewer: { ...viewer, now: Date.now() }, view: pipeline })),
    );
  }
  db.destroy();
  const stages = Object.fromEntries(
    Object.entries(samples).map(([stage, [cold, ...warm]]) => [
      stage,
      { coldMs: round(cold!, 3), warm: summarize(warm) },
    ]),
  ) as Record<string, { coldMs: number; warm: Summary }>;
  return { shape, reads, stages };
}

export async function dashboardRender(flow: Flow, runs: number, floorMs: number, log: (line: string) => void) {
  const releaseIds = await setUp(flow, log);
  const path = `/apps/${APP}`;
  const first = await page(flow, path);
  const times: number[] = [];
  let html = first.html;
  for (let i = 0; i < runs; i++) {
    const p = await page(flow, path);
    times.push(p.ms);
    html = p.html;
  }
  const ms = summarize(times);
  log(`dashboard: GET ${path} first ${round(first.ms)} ms, p50 ${ms.p50} ms, p95 ${ms.p95} ms over ${runs}`);
  const profile = await breakdown(flow, Math.max(5, Math.min(runs, 30)));
  return {
    path,
    application: profile.shape,
    runs,
    firstMs: round(first.ms, 3),
    ms,
    floorMs: round(floorMs, 3),
    ratios: { p50: round(ms.p50 / floorMs), p95: round(ms.p95 / floorMs) },
    htmlBytes: Buffer.byteLength(html),
    htmlGzipBytes: gzipSync(html, { level: 6 }).length,
    target: { firstMs: TARGET_MS, p95Ms: TARGET_MS },
    met: ms.p95 <= TARGET_MS && first.ms <= TARGET_MS,
    /** In-process, with a container of the bench's own: each of pipelineView's reads alone, then the render. */
    profile,
    releasesSent: releaseIds.length,
    releaseId: releaseIds[0],
  };
}

/** The gzipped bytes a GET of an asset sends a browser that takes gzip (node:http does not decompress). */
function wireBytes(url: string): Promise<{ bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve({ bytes, encoding: String(res.headers["content-encoding"] ?? "identity") })
          : reject(new Error(`GET ${url}: ${res.statusCode}`)),
      );
      res.on("error", reject);
    }).on("error", reject);
  });
}

/**
 * Every script the dashboard's pages load (not /docs, which is Swagger UI): found in the pages'
 * HTML as served, each fetched as a browser taking gzip does, summed.
 */
export async function dashboardScripts(flow: Flow, pages: string[]) {
  const scripts = new Map<string, { pages: string[] }>();
  let inlineScripts = 0;
  for (const path of pages) {
    const { html } = await page(flow, path);
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) {
      const src = /\bsrc="([^"]+)"/.exec(tag)?.[1];
      if (!src) {
        inlineScripts += 1;
        continue;
      }
      const seen = scripts.get(src) ?? { pages: [] };
      seen.pages.push(path);
      scripts.set(src, seen);
    }
  }
  const out = [];
  for (const [src, { pages: on }] of scripts) {
    const wire = await wireBytes(new URL(src, flow.stack.httpUrl).href);
    const name = new URL(src, "http://x").pathname.replace(/^\/assets\//, "") as AssetName;
    out.push({
      src,
      name,
      pages: on,
      gzipBytes: wire.bytes,
      encoding: wire.encoding,
      assetGzipSize: assetGzipSize(name),
    });
  }
  const totalGzipBytes = out.reduce((n, s) => n + s.gzipBytes, 0);
  return {
    pages,
    scripts: out,
    inlineScripts,
    totalGzipBytes,
    totalKb: round(totalGzipBytes / 1024, 1),
    target: { maxKb: MAX_JS_GZIP_BYTES / 1024 },
    met: totalGzipBytes <= MAX_JS_GZIP_BYTES && inlineScripts === 0,
  };
}
