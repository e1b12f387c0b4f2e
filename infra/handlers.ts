import { ASSETS_DIR_IN_BUNDLE, DASHBOARD_ASSETS } from "../functions/routes/dashboard/assets-list";
import { alarmOnErrors } from "./alarms";
import { eventRecordFilter, functions, queueMapping, settings, streamMapping, type HandlerRef } from "./functions";
import { notifications, preconditions, streamFailures } from "./queues";
import { adminApiKey, slackSigningSecret, webhookSecret } from "./secrets";
import { stagePolicy } from "./stage";
import { eventLog, readModels, secrets } from "./storage";

/**
 * Every Lambda function, built from the manifest in infra/functions.ts (the one the local stack
 * runs), each linked to exactly the resources its code reads through `Resource` — which also grants
 * it the IAM rights on them and nothing more. Each has an alarm on its errors (infra/alarms.ts), and
 * its logs and the APIs' access logs are kept as long as the stage's policy says (infra/stage.ts).
 */

const { logRetention } = stagePolicy($app.stage, process.env);

/** Tunables passed through from the deploying shell when set (see the README's configuration table). */
const environment = Object.fromEntries(
  [
    "SLIPWAY_SLACK_WEBHOOK_URL",
    "SLIPWAY_AGENT_GRACE_SECONDS",
    "SLIPWAY_AGENT_SUPPORTED_MINORS",
    "SLIPWAY_NOTIFICATION_RETRY_DELAYS",
  ].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])),
);

function handlerPath(ref: HandlerRef): string {
  if (typeof ref !== "string") throw new Error("infra/functions.ts must name handlers as functions/<file>.<export>");
  return ref;
}

/** `reactor` → `Reactor`, for the names of components and alarms. */
const title = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}`;

function fn(
  handler: HandlerRef,
  link: sst.aws.FunctionArgs["link"],
  extra: Partial<sst.aws.FunctionArgs> = {},
): sst.aws.FunctionArgs {
  return {
    handler: handlerPath(handler),
    runtime: "nodejs22.x",
    architecture: "arm64",
    timeout: `${settings.timeoutSeconds} seconds`,
    memory: `${settings.memoryMB} MB`,
    nodejs: {
      format: "esm",
      minify: true,
      esbuild: { external: [...settings.bundleExternal] },
      // Relative to sst.config.ts; infra/tools/bundle.ts bundles with the same plugins.
      plugins: "infra/bundling/plugins.mjs",
    },
    environment,
    logging: { retention: logRetention },
    link,
    ...extra,
  };
}

// ── the APIs ────────────────────────────────────────────────────────────────────────────────

/** Agents dial out to this WebSocket API; routes are selected on `$request.body.action`. */
export const agents = new sst.aws.ApiGatewayWebSocket("Agents", { accessLog: { retention: logRetention } });

/** The HTTP API: the whole Hono app (functions/http.ts) behind one `$default` route. */
export const api = new sst.aws.ApiGatewayV2("Api", { accessLog: { retention: logRetention } });

/** What the backend handlers read: functions/wiring.ts backendFromResources(). */
const backendLinks = [eventLog, readModels, preconditions, notifications, agents, api];

/** What the notifier reads: functions/wiring.ts notifierFromResources(). */
const notifierLinks = [eventLog, notifications, secrets];

const httpRoute = api.route(
  "$default",
  // Preconditions and Api besides the backend's own: it evaluates, dispatches and pushes on the write path.
  fn(
    functions.http,
    [eventLog, readModels, secrets, agents, preconditions, api, adminApiKey, webhookSecret, slackSigningSecret],
    {
      // The dashboard's script and styles and Swagger UI, read from next to the bundle.
      copyFiles: DASHBOARD_ASSETS.map((a) => ({ from: a.source, to: `${ASSETS_DIR_IN_BUNDLE}/${a.name}` })),
    },
  ),
);
alarmOnErrors(
  "Http",
  httpRoute.nodes.function.apply((f) => f.name),
);

// One function per handler, however many routes share it (every agent action goes to one).
const socketFunctions = new Map<string, sst.aws.Function>();
for (const [route, handler] of Object.entries(functions.websocketRoutes)) {
  const path = handlerPath(handler);
  let target = socketFunctions.get(path);
  if (!target) {
    const name = `AgentSocket${title(path.slice(path.lastIndexOf(".") + 1))}`;
    target = new sst.aws.Function(name, fn(handler, backendLinks));
    socketFunctions.set(path, target);
    alarmOnErrors(
      name,
      target.nodes.function.apply((f) => f.name),
    );
  }
  agents.route(route, target.arn);
}

// ── stream and queue subscribers ───────────────────────────────────────────────────────────

for (const s of functions.streamSubscribers) {
  const subscriber = eventLog.subscribe(
    s.name,
    fn(s.handler, backendLinks, { permissions: [{ actions: ["sqs:SendMessage"], resources: [streamFailures.arn] }] }),
    {
      // Command markers share the table; only events reach the handlers.
      filters: [eventRecordFilter],
      // Dynamo.subscribe starts at LATEST and exposes none of these: set them on the mapping itself.
      transform: {
        eventSourceMapping: (args) => {
          args.startingPosition = "TRIM_HORIZON";
          args.parallelizationFactor = 1;
          args.bisectBatchOnFunctionError = true;
          args.functionResponseTypes = ["ReportBatchItemFailures"];
          const mapping = streamMapping(s);
          args.maximumRetryAttempts = mapping.maximumRetryAttempts;
          args.batchSize = mapping.batchSize;
          args.maximumBatchingWindowInSeconds = Math.ceil(mapping.batchingWindowMs / 1000);
          args.destinationConfig = { onFailure: { destinationArn: streamFailures.arn } };
        },
      },
    },
  );
  alarmOnErrors(
    title(s.name),
    subscriber.apply((sub) => sub.nodes.function.apply((f) => f.name)),
  );
}

for (const q of functions.queueSubscribers) {
  const { queue, links } = {
    preconditions: { queue: preconditions, links: backendLinks },
    notifications: { queue: notifications, links: notifierLinks },
  }[q.queue];
  const subscriber = queue.subscribe(fn(q.handler, links), {
    batch: { size: queueMapping(q).batchSize, partialResponses: true },
  });
  alarmOnErrors(
    title(q.name),
    subscriber.apply((sub) => sub.nodes.function.apply((f) => f.name)),
  );
}
