import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Secrets } from "../../functions/services/deps.js";
import { makePrivateDir, PRIVATE_FILE_MODE, writePrivateFile } from "./private-files.js";

const ENV = {
  adminApiKey: "SLIPWAY_ADMIN_API_KEY",
  webhookSecret: "SLIPWAY_WEBHOOK_SECRET",
  slackSigningSecret: "SLIPWAY_SLACK_SIGNING_SECRET",
} as const;

/**
 * The local stack's secrets: made on first start and kept in `<data dir>/secrets.json` (mode 0600),
 * or — in memory — in a fresh private temp folder. Environment variables override each one.
 * On AWS the same three are SST secrets.
 */
export function loadLocalSecrets(dataDir?: string): { secrets: Secrets; path: string } {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "slipway-secrets-"));
  makePrivateDir(dir);
  const path = join(dir, "secrets.json");
  let stored: Partial<Secrets> = {};
  if (existsSync(path)) stored = JSON.parse(readFileSync(path, "utf8")) as Partial<Secrets>;
  const generated: Secrets = {
    adminApiKey: stored.adminApiKey ?? `slw_admin_${randomBytes(24).toString("base64url")}`,
    webhookSecret: stored.webhookSecret ?? randomBytes(32).toString("hex"),
    slackSigningSecret: stored.slackSigningSecret ?? randomBytes(32).toString("hex"),
  };
  if (JSON.stringify(generated) !== JSON.stringify(stored)) {
    writePrivateFile(path, `${JSON.stringify(generated, null, 2)}\n`);
  }
  chmodSync(path, PRIVATE_FILE_MODE);
  const secrets = Object.fromEntries(
    Object.entries(generated).map(([k, v]) => [k, process.env[ENV[k as keyof Secrets]] || v]),
  ) as Secrets;
  return { secrets, path };
}
