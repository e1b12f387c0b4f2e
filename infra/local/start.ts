/**
 * `npm start`: the whole backend on this machine. Flags: --data-dir <path> (or SLIPWAY_DATA_DIR;
 * default ./.slipway), --in-memory, --port <http port> (or SLIPWAY_PORT; default 8787),
 * --ws-port <port> (or SLIPWAY_WS_PORT; default 8788), --dynamodb-port <port>.
 */
import { parseArgs } from "node:util";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { startLocalStack } = await import("./stack.js");

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string" },
    "in-memory": { type: "boolean", default: false },
    port: { type: "string" },
    "ws-port": { type: "string" },
    "dynamodb-port": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(
    `usage: npm start -- [--data-dir <path>] [--in-memory] [--port <port>] [--ws-port <port>] [--dynamodb-port <port>]`,
  );
  process.exit(0);
}

function port(value: string | undefined, flag: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`slipway: ${flag} must be a port number (0-65535), not "${value}"`);
    process.exit(2);
  }
  return n;
}

const dataDir = values["in-memory"] ? undefined : (values["data-dir"] ?? process.env.SLIPWAY_DATA_DIR ?? ".slipway");
const httpPort = port(values.port ?? process.env.SLIPWAY_PORT, "--port", 8787)!;
const wsPort = port(values["ws-port"] ?? process.env.SLIPWAY_WS_PORT, "--ws-port", 8788)!;
const dynamoPort = port(values["dynamodb-port"], "--dynamodb-port");

let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({
    httpPort,
    wsPort,
    log: (line) => console.error(`slipway: ${line}`),
    ...(dataDir ? { dataDir } : {}),
    ...(dynamoPort ? { dynamoPort } : {}),
  });
} catch (err) {
  console.error(`slipway: could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

console.log(`slipway is running
  HTTP API        ${stack.httpUrl}   (health: ${stack.httpUrl}/healthz)
  WebSocket API   ${stack.wsUrl}   (management: ${stack.managementEndpoint})
  DynamoDB        ${stack.dynamoEndpoint}
  SQS             ${stack.sqsEndpoint}
  data            ${stack.dataDir ?? "in memory (nothing is kept)"}
  secrets         ${stack.secretsPath}   (admin API key, CI webhook secret, Slack signing secret)
Press Ctrl-C to stop.`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\nslipway: ${signal}, shutting down`);
    stack.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error("slipway: shutdown failed:", err);
        process.exit(1);
      },
    );
  });
}
