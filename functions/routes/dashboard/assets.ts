import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Context } from "hono";
import { ASSETS_DIR_IN_BUNDLE, DASHBOARD_ASSETS, type AssetName } from "./assets-list.js";

type Loaded = { body: Buffer; gzip: Buffer; hash: string; type: string };

const byName = new Map<string, (typeof DASHBOARD_ASSETS)[number]>(DASHBOARD_ASSETS.map((a) => [a.name, a]));
const loaded = new Map<string, Loaded>();

/** Where an asset is read from: next to the bundle on Lambda, else from the repository. */
function pathOf(asset: (typeof DASHBOARD_ASSETS)[number]): string {
  const taskRoot = process.env.LAMBDA_TASK_ROOT;
  if (taskRoot) return join(taskRoot, ASSETS_DIR_IN_BUNDLE, asset.name);
  return fileURLToPath(new URL(`../../../${asset.source}`, import.meta.url));
}

function load(name: string): Loaded | undefined {
  const cached = loaded.get(name);
  if (cached) return cached;
  const asset = byName.get(name);
  if (!asset) return undefined;
  const body = readFileSync(pathOf(asset));
  const entry = {
    body,
    gzip: gzipSync(body, { level: 9 }),
    hash: createHash("sha256").update(body).digest("hex").slice(0, 12),
    type: `${asset.type}; charset=utf-8`,
  };
  loaded.set(name, entry);
  return entry;
}

/** An asset's URL, versioned by its content so a browser may keep it for ever. */
export function assetUrl(name: AssetName): string {
  return `/assets/${name}?v=${load(name)!.hash}`;
}

/** The gzipped size of an asset, in bytes (what the page-weight budget counts). */
export function assetGzipSize(name: AssetName): number {
  return load(name)!.gzip.length;
}

/** Answers GET /assets/:name: gzipped when the browser takes it; immutable when asked for by its versioned URL. */
export function serveAsset(c: Context, name: string): Response {
  const asset = load(name);
  if (!asset) return c.text("no such asset", 404);
  const etag = `"${asset.hash}"`;
  const headers: Record<string, string> = {
    "content-type": asset.type,
    etag,
    "x-content-type-options": "nosniff",
    vary: "accept-encoding",
    "cache-control":
      c.req.query("v") === asset.hash ? "public, max-age=31536000, immutable" : "public, max-age=0, must-revalidate",
  };
  if (c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers });
  const gzip = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
  if (gzip) headers["content-encoding"] = "gzip";
  const body = gzip ? asset.gzip : asset.body;
  return new Response(new Uint8Array(body), { status: 200, headers });
}
