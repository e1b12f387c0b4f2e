import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ASSETS_DIR_IN_BUNDLE, DASHBOARD_ASSETS } from "../../functions/routes/dashboard/assets-list.js";
import { checkDeployment } from "../../infra/tools/sst-checks.js";
import type { DeploymentModel } from "../../infra/tools/sst-model.js";

/**
 * The offline deploy verification (`npm run verify:sst`): sst.config.ts with the real SST components
 * on Pulumi's mocks. The first test says the deployment is right; the others show that each kind of
 * mistake — a missing handler, a missing or needless link, a wrong mapping setting — is caught.
 */
let model: DeploymentModel;
const modelFor = (stage: string): DeploymentModel => {
  const out = join(mkdtempSync(join(tmpdir(), "slipway-sst-model-")), "model.json");
  execFileSync(process.execPath, ["--import", "tsx", "infra/tools/sst-model.ts", out, stage], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return JSON.parse(readFileSync(out, "utf8")) as DeploymentModel;
};
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
      "Events",
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
    http.links.push("Preconditions");
    const problems = checkDeployment(m);
    expect(problems).toContainEqual(
      expect.stringMatching(/reads Resource\.Preconditions but it does not link Preconditions/),
    );
    expect(problems).toContainEqual(expect.stringMatching(/links Preconditions, which its code never reads/));
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

  it("retains and protects production's data", () => {
    const production = modelFor("production");
    expect(production.app).toMatchObject({ removal: "retain", protect: true });
    expect(checkDeployment(production)).toEqual([]);
    expect(model.app).toMatchObject({ removal: "remove", protect: false });
  });
});
