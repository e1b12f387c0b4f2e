/**
 * Runs sst.config.ts — the real SST components from the platform `sst install` put in .sst/ — on
 * Pulumi's mocks, with no AWS account and no SST CLI, and writes what it would deploy as JSON:
 * every resource with its inputs, and every function as SST would build it (handler, links, the
 * bundle esbuild makes of it). infra/tools/sst-checks.ts then says what is wrong with it.
 *
 *   tsx infra/tools/sst-model.ts <out.json> [stage]
 *
 * The deploy parameters (infra/stage.ts: SLIPWAY_PROTECT, SLIPWAY_ALARM_EMAIL) are read from the
 * environment, as `sst deploy` reads them, and recorded in the model.
 *
 * The SST CLI normally answers the components' RPCs (building functions, bootstrap buckets); a small
 * HTTP server here answers them instead, building each function with infra/tools/bundle.ts.
 */
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AddressInfo } from "node:net";
import { DEPLOY_PARAMETERS } from "../stage.js";
import { bundleHandler, REPO_ROOT, resourcesReadBy, type Bundle } from "./bundle.js";

/** A resource as registered, with the ARN the mocks gave it (what other resources' inputs refer to). */
export type ModelResource = { type: string; name: string; inputs: Record<string, unknown>; arn?: string };
export type ModelFunction = {
  functionID: string;
  handler: string;
  /** Linked resources, as SST hands them to the build. */
  links: string[];
  /** Files copied next to the bundle (`copyFiles`), from the repository's root. */
  copyFiles: { from: string; to: string }[];
  /** Linkable resources the bundle reads through `Resource` (see resourcesReadBy). */
  reads: string[];
  bundle: Bundle;
  /** `typeof` each export of the bundle, imported in this process as Lambda would. */
  exportTypes: Record<string, string>;
};
export type DeploymentModel = {
  stage: string;
  /** The deploy parameters that were set, as sst.config.ts and infra/*.ts saw them. */
  parameters: Record<string, string>;
  app: { name: string; removal: string; protect: boolean };
  /**
   * Packages package-lock.json marks `dev` — installed only for development, tests and tooling — by
   * their path in node_modules (`node_modules/tsx`, `node_modules/a/node_modules/b`).
   */
  devOnlyPackages: string[];
  resources: ModelResource[];
  functions: ModelFunction[];
};

/** SST components a function can link, by their Pulumi type. */
const LINKABLE_TYPES = [
  "sst:aws:Dynamo",
  "sst:aws:Queue",
  "sst:sst:Secret",
  "sst:aws:ApiGatewayV2",
  "sst:aws:ApiGatewayWebSocket",
  "sst:aws:Bucket",
  "sst:aws:Function",
];

const platform = resolve(REPO_ROOT, ".sst/platform");
const load = (path: string) => import(pathToFileURL(resolve(platform, path)).href) as Promise<Record<string, any>>;

export async function deploymentModel(stage: string): Promise<DeploymentModel> {
  const work = mkdtempSync(join(tmpdir(), "slipway-sst-"));
  // Inside the repository, so the bundles resolve the AWS SDK they leave out from node_modules.
  const bundles = join(REPO_ROOT, ".sst", "verify", stage);
  const functions: ModelFunction[] = [];
  const built = new Map<string, Promise<Bundle>>();

  // ── the CLI's RPCs ──────────────────────────────────────────────────────────────────────
  const rpcs: Record<string, (args: any) => Promise<unknown>> = {
    "Provider.Aws.Bootstrap": async () => ({
      asset: "sst-asset-bucket",
      assetEcrRegistryId: "123456789012",
      assetEcrUrl: "123456789012.dkr.ecr.us-east-1.amazonaws.com/sst-asset",
      state: "sst-state-bucket",
      appsyncHttp: "",
      appsyncRealtime: "",
    }),
    "Runtime.Build": async (input: {
      functionID: string;
      handler: string;
      links?: Record<string, unknown>;
      copyFiles?: { from: string; to: string }[];
    }) => {
      const key = input.handler;
      if (!built.has(key)) built.set(key, bundleHandler(input.handler, join(bundles, input.functionID)));
      const bundle = await built.get(key)!;
      const module = (await import(pathToFileURL(bundle.outfile).href)) as Record<string, unknown>;
      const exportTypes = Object.fromEntries(Object.entries(module).map(([k, v]) => [k, typeof v]));
      functions.push({
        functionID: input.functionID,
        handler: input.handler,
        links: Object.keys(input.links ?? {}).sort(),
        copyFiles: (input.copyFiles ?? []).map(({ from, to }) => ({ from: relative(REPO_ROOT, from), to })),
        reads: [],
        bundle,
        exportTypes,
      });
      const out = bundle.outfile.slice(0, bundle.outfile.lastIndexOf("/"));
      return {
        handler: `${bundle.outfile.slice(out.length + 1).replace(/\.mjs$/, "")}.${bundle.exportName}`,
        out,
        errors: [],
        sourcemaps: [],
      };
    },
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    // A reply is always sent: an RPC that throws answers with its error instead of hanging the CLI.
    req.on(
      "end",
      () =>
        void answer().catch((err: unknown) => res.writeHead(500).end(err instanceof Error ? err.message : String(err))),
    );
    const answer = async () => {
      const { method, params, id } = JSON.parse(body) as { method: string; params: unknown[]; id: unknown };
      const call = rpcs[method];
      const reply = call
        ? await call(params[0]).then(
            (result) => ({ result, error: null }),
            (err: Error) => ({ result: null, error: err.message }),
          )
        : { result: null, error: `rpc: can't find method ${method}` };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id, ...reply }));
    };
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  process.env.SST_SERVER = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const name of ["AdminApiKey", "WebhookSecret", "SlackSigningSecret"])
    process.env[`SST_SECRET_${name}`] ??= `placeholder-${name}`;

  // ── Pulumi on mocks ─────────────────────────────────────────────────────────────────────
  const pulumi = await load("node_modules/@pulumi/pulumi/index.js");
  const resources: ModelResource[] = [];
  const account = "123456789012";
  const region = "us-east-1";
  await pulumi.runtime.setMocks(
    {
      newResource(args: { type: string; name: string; inputs: Record<string, unknown> }) {
        const service = args.type.split(":")[1]?.split("/")[0] ?? "x";
        const physical = typeof args.inputs.name === "string" ? args.inputs.name : args.name;
        const arn = `arn:aws:${service}:${region}:${account}:${physical}`;
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, arn });
        return {
          id: `${args.name}-id`,
          state: {
            ...args.inputs,
            arn,
            name: physical,
            url: `https://sqs.${region}.amazonaws.com/${account}/${physical}`,
            streamArn: `${arn}/stream/2026-01-01T00:00:00.000`,
            executionArn: `arn:aws:execute-api:${region}:${account}:${args.name}`,
            apiEndpoint: `wss://${args.name}.execute-api.${region}.amazonaws.com`,
            invokeArn: `${arn}/invocations`,
            qualifiedArn: `${arn}:1`,
          },
        };
      },
      call(args: { token: string; inputs: Record<string, unknown> }) {
        if (args.token.includes("getRegion")) return { name: region, region, id: region };
        if (args.token.includes("getCallerIdentity"))
          return { accountId: account, arn: `arn:aws:iam::${account}:user/ci`, userId: "ci" };
        if (args.token.includes("getPartition")) return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
        if (args.token.includes("getPolicyDocument")) return { json: JSON.stringify(args.inputs) };
        return args.inputs;
      },
    },
    "slipway",
    stage,
    false,
  );

  // ── the globals the SST CLI gives sst.config.ts ───────────────────────────────────────────
  const g = globalThis as Record<string, unknown>;
  g.$config = (await load("src/config.ts")).$config;
  g.$cli = {
    command: "deploy",
    rpc: process.env.SST_SERVER,
    home: "aws",
    paths: { home: work, root: REPO_ROOT, work, platform },
    state: { version: {} },
  };
  g.$dev = false;
  const appConfig = (
    (await import(pathToFileURL(resolve(REPO_ROOT, "sst.config.ts")).href)) as {
      default: {
        app: (input: { stage: string }) => Promise<{ name: string; removal: string; protect: boolean }>;
        run: () => Promise<unknown>;
      };
    }
  ).default;
  const app = await appConfig.app({ stage });
  g.$app = { name: app.name, stage, removal: app.removal, protect: app.protect, providers: {} };
  Object.assign(g, await load("src/shim/run.js"), {
    sst: await load("src/components/index.ts"),
    aws: await load("node_modules/@pulumi/aws/index.js"),
  });

  await appConfig.run();
  // Let every output resolve — every function built, nothing new registered for a while — before
  // reading the mocks' records.
  const settled = () => functions.length === resources.filter((r) => r.type === "sst:aws:Function").length;
  for (let seen = -1, quiet = 0; quiet < 4 || !settled();) {
    await new Promise((r) => setTimeout(r, 250));
    quiet = seen === resources.length + functions.length ? quiet + 1 : 0;
    seen = resources.length + functions.length;
  }
  server.close();
  const linkable = resources.filter((r) => LINKABLE_TYPES.includes(r.type)).map((r) => r.name);
  for (const f of functions) f.reads = resourcesReadBy(f.bundle, linkable);
  const parameters = Object.fromEntries(
    DEPLOY_PARAMETERS.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])),
  );
  const lock = JSON.parse(readFileSync(resolve(REPO_ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const devOnlyPackages = Object.entries(lock.packages)
    .filter(([, p]) => p.dev === true)
    .map(([path]) => path)
    .sort();
  return {
    stage,
    parameters,
    app: { name: app.name, removal: app.removal, protect: app.protect },
    devOnlyPackages,
    resources,
    functions,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [out, stage = "ci"] = process.argv.slice(2);
  const model = await deploymentModel(stage);
  writeFileSync(out ?? "/dev/stdout", JSON.stringify(model, null, 2));
  process.exit(0);
}
