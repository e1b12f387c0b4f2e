import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams, type OutcomeNotification } from "../../core/index.js";
import { SQSClient } from "@aws-sdk/client-sqs";
import { NotificationQueue, type NotificationMessage } from "../../functions/adapters/notification-queue.js";
import { SecretStore } from "../../functions/adapters/secret-store.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import type { QueueEvent } from "../../functions/adapters/lambda-events.js";
import { createNotifier } from "../../functions/notifier.js";
import { signWebhook } from "../../functions/services/credentials.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * Outcome notifications end to end on the local stack: a release flows staging → production and
 * every target hears of what happened, signed, each notification once; a target that fails is
 * tried again with the next delay and, after the last try, given up on — visibly, in the log.
 */

type Received = { path: string; headers: IncomingHttpHeaders; body: string };

/** An HTTP server standing in for Slack and the webhook receivers: `/down` always fails, `/flaky` fails each notification's first try. */
class Receiver {
  readonly received: Received[] = [];
  private readonly server: Server;
  private readonly tried = new Set<string>();
  url = "";

  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.received.push({ path, headers: req.headers, body });
        const key = `${path} ${String(req.headers["idempotency-key"] ?? body)}`;
        const first = !this.tried.has(key);
        this.tried.add(key);
        res.statusCode = path.startsWith("/down") || (path.startsWith("/flaky") && first) ? 503 : 200;
        res.end("ok");
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((ready) => this.server.listen(0, "127.0.0.1", ready));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  notifications(path: string): OutcomeNotification[] {
    return this.at(path).map((r) => JSON.parse(r.body) as OutcomeNotification);
  }

  close(): Promise<void> {
    return new Promise((done) => this.server.close(() => done()));
  }
}

const SECRET = "whsec-test-0123456789abcdef";
let p: Pipeline;
const receiver = new Receiver();

beforeAll(async () => {
  // Three tries, one second apart at most: the schedule a test can wait out.
  process.env.SLIPWAY_NOTIFICATION_RETRY_DELAYS = "0,1";
  await receiver.listen();
  p = await openPipeline("notifications");
  expect((await p.api("/v1/secrets/hooks", { method: "PUT", body: { value: SECRET } })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await p?.close();
  await receiver.close();
  delete process.env.SLIPWAY_NOTIFICATION_RETRY_DELAYS;
});

/** The delivery records of an application's notifications, from the event feed. */
async function recorded(app: string, type: "NotificationDelivered" | "NotificationDeadLettered") {
  const res = await p.api(`/v1/events?application=${app}&type=${type}&limit=100`);
  expect(res.status).toBe(200);
  return (res.body.items as { data: Record<string, string | number> }[]).map((i) => i.data);
}

describe("outcome notifications", () => {
  it("tell Slack and each webhook of every deploy and convergence, signed, with a stable idempotency key", async () => {
    await p.application("told", {
      application: {
        notifications: {
          slack: { webhookUrl: `${receiver.url}/slack/told`, channel: "#deploys" },
          webhooks: [
            { url: `${receiver.url}/ok/told`, secretName: "hooks" },
            { url: `${receiver.url}/flaky/told`, secretName: "hooks", events: ["converged"] },
          ],
        },
      },
    });
    const releaseId = await p.release("told", "1.0.0");
    await eventually(() => p.convergedOn("told", "production", releaseId));
    await eventually(async () => receiver.at("/ok/told").length >= 4 && receiver.at("/slack/told").length >= 4);

    const told = receiver.notifications("/ok/told");
    expect(told.map((n) => `${n.type} ${n.channel}`).sort()).toEqual([
      "release.converged production",
      "release.converged staging",
      "release.deployed production",
      "release.deployed staging",
    ]);
    const converged = told.find((n) => n.type === "release.converged" && n.channel === "production")!;
    expect(converged).toMatchObject({
      application: "told",
      service: "told-api",
      releaseId,
      params: { image: "registry.example.com/told/api:1.0.0" },
      summary: `told/told-api release ${releaseId} converged in production`,
      url: `${p.stack.httpUrl}/releases/${releaseId}`,
    });

    // Each delivery is signed over its timestamp and body with the named secret, and keyed by its id.
    for (const r of receiver.at("/ok/told")) {
      const timestamp = String(r.headers["x-slipway-timestamp"]);
      expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(300);
      expect(r.headers["x-slipway-signature-256"]).toBe(signWebhook(SECRET, timestamp, r.body));
      const body = JSON.parse(r.body) as OutcomeNotification;
      expect(r.headers["idempotency-key"]).toBe(body.id);
      expect(r.headers["x-slipway-event"]).toBe(body.type);
    }
    expect(new Set(told.map((n) => n.id)).size).toBe(4);

    // Slack gets Block Kit, in the configured channel, with a button to the release.
    const slack = receiver.at("/slack/told").map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(slack.every((m) => m.channel === "#deploys")).toBe(true);
    expect(JSON.stringify(slack)).toContain(`"url":"${p.stack.httpUrl}/releases/${releaseId}"`);
    expect(slack.map((m) => m.text)).toContain(`told/told-api release ${releaseId} is deploying to staging`);

    // The flaky receiver wants convergence only; its first try of each failed, the second was taken.
    await eventually(async () => (await recorded("told", "NotificationDelivered")).length >= 10);
    const flaky = receiver.notifications("/flaky/told");
    expect(flaky.every((n) => n.type === "release.converged")).toBe(true);
    expect(new Set(flaky.map((n) => n.id)).size).toBe(2);
    expect(flaky).toHaveLength(4);
    const deliveries = await recorded("told", "NotificationDelivered");
    const flakyDeliveries = deliveries.filter((d) => d.target === `webhook ${receiver.url}` && d.attempts === 2);
    expect(flakyDeliveries).toHaveLength(2);
    // One record per notification and target: 4 to Slack, 4 to /ok, 2 to /flaky.
    expect(new Set(deliveries.map((d) => d.notificationId)).size).toBe(10);
    // A record names where it went without the URL, which may be a credential.
    expect(JSON.stringify(deliveries)).not.toContain("/slack/told");
  });

  it("gives up on a target after the last try and records why, where the API shows it", async () => {
    await p.application("unheard", {
      application: {
        notifications: {
          webhooks: [
            { url: `${receiver.url}/down/unheard`, secretName: "hooks", events: ["converged"] },
            { url: `${receiver.url}/ok/unheard`, secretName: "no-such-secret", events: ["converged"] },
          ],
        },
      },
    });
    const releaseId = await p.release("unheard", "1.0.0");
    await eventually(() => p.convergedOn("unheard", "production", releaseId));
    await eventually(async () => (await recorded("unheard", "NotificationDeadLettered")).length >= 4);

    const given = await recorded("unheard", "NotificationDeadLettered");
    expect(given.map((d) => `${d.channel} ${d.attempts} ${d.error}`).sort()).toEqual([
      `production 3 secret no-such-secret is not set; set it with PUT /v1/secrets/no-such-secret`,
      `production 3 webhook ${receiver.url} answered 503`,
      `staging 3 secret no-such-secret is not set; set it with PUT /v1/secrets/no-such-secret`,
      `staging 3 webhook ${receiver.url} answered 503`,
    ]);
    // Three tries of each of the two notifications, each with the same idempotency key.
    const tries = receiver.at("/down/unheard");
    expect(tries).toHaveLength(6);
    expect(new Set(tries.map((t) => t.headers["idempotency-key"])).size).toBe(2);
    // Nothing reached the receiver whose secret is missing: it is never sent unsigned.
    expect(receiver.at("/ok/unheard")).toHaveLength(0);
  });

  it("tell of a release marked bad and of a rollback", async () => {
    await p.application("soured", {
      application: { notifications: { webhooks: [{ url: `${receiver.url}/ok/soured`, secretName: "hooks" }] } },
    });
    const good = await p.release("soured", "1.0.0");
    await eventually(() => p.convergedOn("soured", "staging", good));
    const bad = await p.release("soured", "2.0.0");
    await eventually(() => p.convergedOn("soured", "staging", bad));
    const res = await p.api(`/v1/releases/${bad}/mark-bad`, {
      method: "POST",
      body: { reason: "error rate doubled", rollback: true },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);

    await eventually(async () => {
      const types = receiver.notifications("/ok/soured").map((n) => n.type);
      return types.includes("release.markedBad") && types.includes("release.rolledBack");
    });
    const told = receiver.notifications("/ok/soured");
    expect(told.find((n) => n.type === "release.markedBad")).toMatchObject({
      releaseId: bad,
      reason: "error rate doubled",
      summary: `soured/soured-api release ${bad} was marked bad: error rate doubled`,
    });
    expect(told.find((n) => n.type === "release.rolledBack" && n.channel === "staging")).toMatchObject({
      releaseId: bad,
      rolledBackTo: good,
    });
  });
});

describe("the notifier", () => {
  it("delivers a message seen twice once, and drops a malformed one", async () => {
    const aws = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const posted: object[] = [];
    const notifier = createNotifier({
      store: p.store,
      notifications: new NotificationQueue(
        new SQSClient({ ...aws, endpoint: p.stack.sqsEndpoint }),
        p.stack.queues.notifications,
      ),
      secretStore: new SecretStore(
        documentClient({ ...aws, endpoint: p.stack.dynamoEndpoint }),
        p.stack.tables.secrets,
      ),
      postToSlack: async (_url, message) => void posted.push(message),
    });
    const message: NotificationMessage = {
      attempt: 1,
      target: { kind: "slack", webhookUrl: "https://hooks.slack.com/services/T/B/x" },
      notification: {
        id: "twice.staging.converged.1.slack",
        type: "release.converged",
        occurredAt: new Date().toISOString(),
        summary: "shop/api release twice converged in staging",
        application: "shop",
        service: "api",
        releaseId: "twice",
        channel: "staging",
        params: {},
        source: {},
        url: "http://127.0.0.1/v1/releases/twice",
      },
    };
    // Only what the notifier reads of an SQS record.
    const batch = (...records: [string, string][]) =>
      ({ Records: records.map(([messageId, body]) => ({ messageId, body })) }) as unknown as QueueEvent;
    const first = await notifier(batch(["m1", JSON.stringify(message)]));
    const again = await notifier(batch(["m2", JSON.stringify(message)], ["m3", "{not json"]));
    expect(first.batchItemFailures).toEqual([]);
    expect(again.batchItemFailures).toEqual([]);
    expect(posted).toHaveLength(1);
    const log = await p.store.read(streams.notification(message.notification.id));
    expect(log.map((e) => e.type)).toEqual(["NotificationDelivered"]);
  });
});

describe("named secrets", () => {
  it("are set, listed and deleted by admins, and their values never come back", async () => {
    const set = await p.api("/v1/secrets/listed", { method: "PUT", body: { value: "a-value-nobody-sees-123" } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ name: "listed", updatedBy: "admin" });
    const list = await p.api("/v1/secrets");
    expect((list.body.items as { name: string }[]).map((s) => s.name)).toEqual(["hooks", "listed"]);
    expect(JSON.stringify(list.body)).not.toContain("a-value-nobody-sees-123");

    // The log records that it was set, never what to.
    const log = await p.store.read(streams.secrets());
    expect(log.map((e) => e.type)).toContain("SecretSet");
    expect(JSON.stringify(log)).not.toContain("a-value-nobody-sees-123");

    expect((await p.api("/v1/secrets/listed", { method: "DELETE" })).status).toBe(204);
    const gone = await p.api("/v1/secrets/listed", { method: "DELETE" });
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe("secret.not_found");
  });

  it("refuse bad names and values, and keys without the admin scope", async () => {
    const badName = await p.api("/v1/secrets/Not_A_Name", { method: "PUT", body: { value: "long-enough-value-123" } });
    expect(badName.status).toBe(400);
    expect(JSON.stringify(badName.body)).toContain("name");
    const short = await p.api("/v1/secrets/short", { method: "PUT", body: { value: "tiny-secret" } });
    expect(short.status).toBe(400);
    expect(JSON.stringify(short.body)).toContain("value");
    // A refused value is not repeated back.
    expect(JSON.stringify(short.body)).not.toContain("tiny-secret");

    const issued = await p.api("/v1/api-keys", { method: "POST", body: { name: "looker", scopes: ["read"] } });
    const reader = issued.body.key as string;
    expect((await p.api("/v1/secrets", { key: reader })).status).toBe(403);
    expect(
      (await p.api("/v1/secrets/sneaky", { method: "PUT", body: { value: "long-enough-value-123" }, key: reader }))
        .status,
    ).toBe(403);
    expect((await p.api("/v1/secrets")).body.items).not.toContainEqual(expect.objectContaining({ name: "short" }));
  });
});
