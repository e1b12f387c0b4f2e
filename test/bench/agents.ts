import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/**
 * Agents in a process of their own (agents-child.ts), so that neither the stack's memory nor its
 * CPU share counts them: resolves once every one is connected; `onLine` hears every message they get.
 */
export async function startAgents(
  url: string,
  agents: { runtime: string; token: string }[],
  onLine: (line: string) => void,
): Promise<{ stop: () => void }> {
  const file = join(mkdtempSync(join(tmpdir(), "slipway-agents-")), "agents.json");
  writeFileSync(file, JSON.stringify({ url, agents }));
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "agents-child.ts"), file], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the agents' process exited (${code}) before they were connected`)));
    createInterface({ input: child.stdout }).on("line", (line) => (line === "ready" ? resolve() : onLine(line)));
  });
  return { stop: () => child.stdin.end() };
}
