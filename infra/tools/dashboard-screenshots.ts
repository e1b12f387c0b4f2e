/**
 * `npm run docs:screenshots`: the dashboard's pictures in docs/images/, taken from a real local
 * stack (in memory, on free ports) with fake agents and a realistic pipeline: an application
 * `shop` (staging → production on two clusters, production behind a 30-minute soak and an
 * approval) with five services, some converged, one deploying, one failed, some waiting at
 * production's gates. Drives the system's Chromium (SLIPWAY_CHROMIUM, else /usr/bin/chromium).
 *
 * Writes docs/images/pipeline.png (1280 wide), docs/images/pipeline-mobile.png (390 wide) and
 * docs/images/release.png (a release waiting for approval in production).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { InstructionMessage } from "../../core/index.js";
import { streams } from "../../core/index.js";
import type { StoredEvent } from "../../events/index.js";
import type { Secrets } from "../../functions/services/deps.js";
import { browserAvailability, launchBrowser } from "../../test/support/browser.js";
import { FakeAgent } from "../../test/support/fake-agent.js";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { documentClient } = await import("../../functions/adapters/dynamo.js");
const { EventStore } = await import("../../functions/adapters/event-store.js");
const { signWebhook } = await import("../../functions/services/credentials.js");
const { LOCAL_CREDENTIALS, LOCAL_REGION } = await import("../local/dynamodb.js");
const { startLocalStack } = await import("../local/stack.js");

const OUT = fileURLToPath(new URL("../../docs/images/", import.meta.url));
const APP = "shop";
const SERVICES = ["api", "web", "worker", "payments", "search"] as const;
type ServiceName = (typeof SERVICES)[number];
const WAIT_MS = 60_000;

const availability = browserAvailability();
if (!availability.available) {
  console.error(`docs:screenshots: ${availability.reason}`);
  process.exit(1);
}

const runtimes = [
  { runtime: { name: "k8s-staging", description: "staging cluster", kubernetes: {} } },
  { runtime: { name: "k8s-prod-eu", description: "production, eu-west-1", kubernetes: {} } },
  { runtime: { name: "k8s-prod-us", description: "production, us-east-1", kubernetes: {} } },
];
const application = (production: object[]) => ({
  application: {
    name: APP,
    releaseChannels: [
      { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
      {
        name: "production",
        runtimes: [{ runtime: "k8s-prod-eu" }, { runtime: "k8s-prod-us" }],
        preconditions: production,
        constants: { replicas: 3 },
      },
    ],
  },
});
const service = (name: ServiceName) => ({
  service: {
    name,
    application: APP,
    parameters: [{ name: "image", type: "dockerImage", required: true }],
    kubernetesConfig: {
      manifests: [
        `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  labels: { app: ${name} }\nspec:\n  replicas: {{.Constants.replicas}}\n  selector:\n    matchLabels: { app: ${name} }\n  template:\n    metadata:\n      labels: { app: ${name} }\n    spec:\n      containers:\n        - name: ${name}\n          image: "{{.Params.image}}"\n`,
      ],
    },
  },
});
const soakAndApproval = [
  { releaseChannelStable: { releaseChannel: "staging", duration: "30m" } },
  { manualApproval: {} },
];

const stack = await startLocalStack({ stage: "screenshots" });
const agents: FakeAgent[] = [];
let exitCode = 0;
try {
  const secrets = JSON.parse(readFileSync(stack.secretsPath, "utf8")) as Secrets;
  const store = new EventStore(
    documentClient({ endpoint: stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    stack.tables.events,
  );

  async function api(path: string, method = "GET", body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${stack.httpUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${secrets.adminApiKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  }

  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const has = async (stream: string, match: (e: StoredEvent) => boolean) => (await store.read(stream)).some(match);
  const converged = (channel: string, releaseId: string) =>
    until(`${releaseId} to converge in ${channel}`, () =>
      has(streams.channel(APP, channel), (e) => e.type === "ChannelConverged" && e.data.releaseId === releaseId),
    );
  const approvalRequested = (releaseId: string) =>
    until(`${releaseId} to wait for approval`, () =>
      has(streams.release(releaseId), (e) => e.type === "ApprovalRequested" && e.data.channel === "production"),
    );

  /** A release from CI, signed as CI signs it. */
  async function release(name: ServiceName, tag: string, author: string, message: string): Promise<string> {
    const body = JSON.stringify({
      application: APP,
      service: name,
      params: { image: `registry.example.com/${APP}/${name}:${tag}` },
      source: { commit: Math.random().toString(16).slice(2, 14), branch: "main", message },
      author,
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${stack.httpUrl}/v1/webhooks/ci`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "x-slipway-timestamp": timestamp,
        "x-slipway-signature-256": signWebhook(secrets.webhookSecret, timestamp, body),
      },
    });
    if (res.status !== 202) throw new Error(`webhook for ${name} ${tag}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { releaseId: string }).releaseId;
  }
  const approve = (releaseId: string) =>
    api(`/v1/releases/${releaseId}/channels/production/approvals`, "POST", { decision: "approve" });

  // Image tags whose instructions the agents take but never finish (deploying), or fail.
  const stuck = new Set(["0.32.0"]);
  const failing = new Set(["2.0.0-rc.1"]);
  const tagOf = (i: InstructionMessage) =>
    i.payload?.kind === "kubernetes"
      ? (/image: "[^"]*:([\w.-]+)"/.exec(i.payload.manifests.join("\n"))?.[1] ?? "")
      : "";
  await api("/v1/configs", "PUT", [...runtimes, application([{ manualApproval: {} }]), ...SERVICES.map(service)]);
  for (const { runtime } of runtimes) {
    const { token } = (await api(`/v1/runtimes/${runtime.name}/link`, "POST")) as { token: string };
    const agent: FakeAgent = new FakeAgent(stack.wsUrl, runtime.name, token, {
      version: "1.0.0",
      outcome: (i) => (stuck.has(tagOf(i)) ? "none" : failing.has(tagOf(i)) ? "failed" : "succeeded"),
      onInstruction: (i) => {
        if (!stuck.has(tagOf(i))) return;
        agent.send({ action: "ack", instructionId: i.instructionId });
        agent.send({ action: "report", instructionId: i.instructionId, status: "applying" });
      },
    });
    await agent.connect();
    agents.push(agent);
  }

  // What runs in production today: every service went through staging and an approval.
  const live: Record<ServiceName, [string, string]> = {
    api: ["1.14.2", "Paginate the order history"],
    web: ["2.8.0", "New checkout page"],
    worker: ["0.31.4", "Retry webhooks with backoff"],
    payments: ["4.2.1", "Upgrade the card SDK"],
    search: ["1.9.3", "Synonyms for product names"],
  };
  const authors = ["maria", "chen", "oluwaseun", "priya", "dev-bot"];
  for (const [i, name] of SERVICES.entries()) {
    const id = await release(name, live[name][0], authors[i]!, live[name][1]);
    await approvalRequested(id);
    await approve(id);
    await converged("production", id);
  }

  // Then production gets its soak, and the next releases arrive.
  await api("/v1/configs", "PUT", [application(soakAndApproval)]);
  const waiting = await release("api", "1.15.0", "maria", "Rate-limit the public search endpoint");
  await converged("staging", waiting);
  await approvalRequested(waiting);
  const approved = await release("web", "2.9.0", "chen", "Dark mode");
  await converged("staging", approved);
  await approvalRequested(approved);
  await approve(approved);
  const deploying = await release("worker", "0.32.0", "oluwaseun", "Batch e-mail sends");
  await until("worker to start applying", () =>
    has(
      streams.delivery(APP, "staging", "k8s-staging"),
      (e) => e.type === "ApplyStarted" && e.data.releaseId === deploying,
    ),
  );
  const broken = await release("search", "2.0.0-rc.1", "dev-bot", "Switch to the new index");
  await until("search to fail in staging", () =>
    has(streams.channel(APP, "staging"), (e) => e.type === "ApplyFailed" && e.data.releaseId === broken),
  );

  mkdirSync(OUT, { recursive: true });
  const browser = await launchBrowser(availability);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
    await page.goto(`${stack.httpUrl}/login?next=/apps/${APP}`);
    await page.getByLabel("API key").fill(secrets.adminApiKey);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${stack.httpUrl}/apps/${APP}`);
    // The read models follow the log: wait until the page shows every state the scene set up.
    await waitForPipeline(page);
    await page.screenshot({ path: `${OUT}pipeline.png`, fullPage: true });
    console.log("wrote docs/images/pipeline.png");

    await page.goto(`${stack.httpUrl}/releases/${waiting}`);
    await page.getByRole("form", { name: "Approve in production" }).waitFor({ timeout: WAIT_MS });
    await page.locator(".gates .chip", { hasText: "soak" }).waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: `${OUT}release.png`, fullPage: true });
    console.log("wrote docs/images/release.png");

    const mobile = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
    });
    await mobile.addCookies(await context.cookies(stack.httpUrl));
    const phone = await mobile.newPage();
    await phone.goto(`${stack.httpUrl}/apps/${APP}`);
    await waitForPipeline(phone);
    await phone.screenshot({ path: `${OUT}pipeline-mobile.png`, fullPage: true });
    console.log("wrote docs/images/pipeline-mobile.png");
  } finally {
    await browser.close();
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await Promise.all(agents.map((a) => a.close()));
  await stack.stop();
}
process.exit(exitCode);

async function waitForPipeline(page: import("playwright-core").Page): Promise<void> {
  const cell = (channel: string, tone: string) =>
    page.locator(`td[data-channel="${channel}"] .current.tone-${tone}`).first();
  await cell("staging", "deploying").waitFor({ timeout: WAIT_MS });
  await cell("staging", "failed").waitFor({ timeout: WAIT_MS });
  await page.locator('td[data-channel="production"] .chip', { hasText: "soak" }).nth(1).waitFor({ timeout: WAIT_MS });
  await page.locator('td[data-channel="production"] .chip', { hasText: "approval" }).waitFor({ timeout: WAIT_MS });
  await page
    .locator('td[data-channel="production"] .current.tone-converged')
    .nth(SERVICES.length - 1)
    .waitFor({ timeout: WAIT_MS });
}
