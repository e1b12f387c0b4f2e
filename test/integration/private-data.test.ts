import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Secrets } from "../../functions/services/deps.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import type { DynamoStreamEvent } from "../../infra/local/stream-poller.js";
import { docs, IMAGE } from "../support/fixtures.js";
import { until } from "../support/wait.js";

// Its own file: a process reads the SST resources of the first stack it starts with the real HTTP
// API, so the second start here reuses the stage and data folder (same tables, same secrets).
const root = mkdtempSync(join(tmpdir(), "slipway-private-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Every folder and file under `dir`, `dir` included, with its permission bits. A file gone between
 * listing its folder and reading it (SQLite's journal, while DynamoDB Local runs) has none to judge.
 */
function walk(dir: string): { path: string; folder: boolean; mode: number }[] {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const here = { path: dir, folder: stat.isDirectory(), mode: stat.mode & 0o777 };
  return here.folder ? [here, ...readdirSync(dir).flatMap((name) => walk(join(dir, name)))] : [here];
}

/** What under `dir` is not exactly 0700 (folders) or 0600 (files), as `path mode`. */
const notPrivate = (dir: string) =>
  walk(dir)
    .filter((f) => f.mode !== (f.folder ? 0o700 : 0o600))
    .map((f) => `${relative(dir, f.path) || "."} ${f.mode.toString(8)}`);

/** A call to the stack's HTTP API as admin. */
async function asAdmin(stack: LocalStack, method: string, path: string, body: unknown): Promise<number> {
  const { adminApiKey } = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  const res = await fetch(`${stack.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminApiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  return res.status;
}

describe("the local stack's data folder", () => {
  it("is its user's alone: folders 0700, files 0600, whatever the umask or an older run left", async () => {
    // A folder the stack makes itself (mkdtemp's is private already), under the widest umask: the
    // modes must not come from the umask, and DynamoDB Local (which inherits it) writes its own file.
    const dataDir = join(root, "data");
    const umask = process.umask(0);
    try {
      const one = await startLocalStack({ dataDir, stage: "private" });
      try {
        expect(await asAdmin(one, "PUT", "/v1/configs", [docs.staging, docs.production, docs.shop, docs.api])).toBe(
          200,
        );
        // A release (a release-scoped key stands in for the webhook signature): staging deploys at once.
        const release = { application: "shop", service: "api", params: { image: IMAGE }, source: { commit: "abc" } };
        expect(await asAdmin(one, "POST", "/v1/webhooks/ci", release)).toBe(202);
        // Both stream subscribers have taken it in and recorded how far they got.
        await until(() => ["reactor.json", "projector.json"].every((f) => existsSync(join(dataDir, "checkpoints", f))));
        expect(notPrivate(dataDir)).toEqual([]);
      } finally {
        await one.stop();
      }
      const kept = walk(dataDir).map((f) => relative(dataDir, f.path));
      expect(kept).toEqual(
        expect.arrayContaining([
          "dynamodb",
          "sqs.jsonl",
          "secrets.json",
          "checkpoints/reactor.json",
          "checkpoints/projector.json",
        ]),
      );
      expect(kept.filter((f) => f.startsWith("dynamodb/") && f.endsWith(".db"))).not.toEqual([]);
      expect(notPrivate(dataDir)).toEqual([]);

      // What an older Slipway left: everything readable by anyone. Starting again narrows it all.
      for (const f of walk(dataDir)) chmodSync(f.path, f.folder ? 0o755 : 0o644);
      // The stream handlers keep the clients of the first stack, so records reach a recorder now.
      const seen: string[] = [];
      const record = (e: DynamoStreamEvent) => void seen.push(...e.Records.map((r) => r.eventID));
      const two = await startLocalStack({
        dataDir,
        stage: "private",
        functions: {
          streamSubscribers: [{ name: "projector", handler: record }],
          queueSubscribers: [],
          websocketRoutes: {},
        },
      });
      try {
        expect(notPrivate(dataDir)).toEqual([]);
        const extra = { runtime: { name: "k8s-extra", kubernetes: {} } };
        expect(await asAdmin(two, "PUT", "/v1/configs", [extra])).toBe(200);
        await until(() => seen.length > 0);
        expect(notPrivate(dataDir)).toEqual([]);
      } finally {
        await two.stop();
      }
      expect(notPrivate(dataDir)).toEqual([]);
    } finally {
      process.umask(umask);
    }
  });
});
