/**
 * `npm start`: the whole backend on this machine. Flags (see the README): --data-dir, --in-memory,
 * --port, --ws-port, --dynamodb-port, --log-format, --log-level. A bad flag or value is one line
 * and the usage, exit 2.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../../functions/adapters/logger.js";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { startLocalStack } = await import("./stack.js");

function port(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("it must be a port number (0-65535).");
  return n;
}

const program = new Command("npm start --")
  .description("Runs the Slipway backend on this machine against local stand-ins for AWS.")
  .usage(
    "[--data-dir <path> | --in-memory] [--port <port>] [--ws-port <port>] [--dynamodb-port <port>] [--log-format human|json] [--log-level <level>]",
  )
  .addOption(
    new Option("--data-dir <path>", "where the local stack keeps its data").env("SLIPWAY_DATA_DIR").default(".slipway"),
  )
  .addOption(new Option("--in-memory", "keep nothing; every start is empty (wins over --data-dir)"))
  .addOption(
    new Option("--port <port>", "HTTP API port (0 picks a free one)").env("SLIPWAY_PORT").argParser(port).default(8787),
  )
  .addOption(
    new Option("--ws-port <port>", "WebSocket API port (0 picks a free one)")
      .env("SLIPWAY_WS_PORT")
      .argParser(port)
      .default(8788),
  )
  .addOption(new Option("--dynamodb-port <port>", "DynamoDB Local's port (default: a free one)").argParser(port))
  .addOption(
    new Option("--log-format <format>", "lines for people, or JSON lines as on AWS")
      .choices(LOG_FORMATS)
      .env("LOG_FORMAT")
      .default("human"),
  )
  .addOption(
    new Option("--log-level <level>", "the least severe lines shown")
      .choices(LOG_LEVELS)
      .env("LOG_LEVEL")
      .default("info"),
  )
  .helpOption("-h, --help", "show the flags")
  .configureOutput({ outputError: (message, write) => write(`slipway: ${message.replace(/^error: /, "")}`) })
  .exitOverride();

try {
  program.parse();
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  if (err.exitCode === 0) process.exit(0);
  console.error(`usage: ${program.name()} ${program.usage()}`);
  process.exit(2);
}

const flags = program.opts<{
  dataDir: string;
  inMemory?: boolean;
  port: number;
  wsPort: number;
  dynamodbPort?: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
}>();
const logging = { level: flags.logLevel, format: flags.logFormat };
const logger = createLogger({ ...logging, keys: { component: "local" } });
const dataDir = flags.inMemory ? undefined : flags.dataDir;

let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({
    httpPort: flags.port,
    wsPort: flags.wsPort,
    logging,
    logger,
    ...(dataDir ? { dataDir } : {}),
    ...(flags.dynamodbPort ? { dynamoPort: flags.dynamodbPort } : {}),
  });
} catch (err) {
  logger.error(`could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

const where = {
  httpUrl: stack.httpUrl,
  wsUrl: stack.wsUrl,
  managementEndpoint: stack.managementEndpoint,
  dynamoEndpoint: stack.dynamoEndpoint,
  sqsEndpoint: stack.sqsEndpoint,
  dataDir: stack.dataDir ?? "in memory",
  secretsPath: stack.secretsPath,
};
// JSON lines stay JSON lines from the first: whatever reads them need not skip a banner.
if (flags.logFormat === "json") logger.info("slipway is running", where);
else
  console.log(`slipway is running
  HTTP API        ${stack.httpUrl}   (health: ${stack.httpUrl}/healthz, reference: ${stack.httpUrl}/docs)
  dashboard       ${stack.httpUrl}/   (sign in with an API key, such as the admin key)
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
    logger.info(`${signal}: shutting down`);
    stack.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error("shutdown failed", { error: err });
        process.exit(1);
      },
    );
  });
}
