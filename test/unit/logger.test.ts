import { afterEach, describe, expect, it } from "vitest";
import { createLogger, humanLine, type LoggerOptions } from "../../functions/adapters/logger.js";

/** A logger printing into memory, and what it printed. */
function printed(options: Omit<LoggerOptions, "write"> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", ...options, write: (l) => lines.push(l) });
  return { logger, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const savedLevel = process.env.LOG_LEVEL;
afterEach(() => {
  if (savedLevel === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = savedLevel;
});

describe("the logger", () => {
  it("prints JSON lines with the level, the time, the message and every key at the top level", () => {
    const { logger, json } = printed({ keys: { component: "reactor" } });
    logger
      .child({ releaseId: "r1", correlationId: "req-1" })
      .info("staging: r1 converged", { channel: "staging", service: "api" });
    expect(json()).toEqual([
      {
        level: "INFO",
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        message: "staging: r1 converged",
        component: "reactor",
        releaseId: "r1",
        correlationId: "req-1",
        channel: "staging",
        // Powertools reserves `service` for itself: here it is the Slipway service, and kept.
        service: "api",
      },
    ]);
  });

  it("prints only lines at or above its level, which LOG_LEVEL sets when no level is given", () => {
    const warn = printed({ level: "warn" });
    warn.logger.debug("d");
    warn.logger.info("i");
    warn.logger.warn("w");
    warn.logger.error("e");
    expect(warn.json().map((l) => l.level)).toEqual(["WARN", "ERROR"]);

    // In either case: Powertools alone would take only upper case, and print info for "error".
    for (const given of ["ERROR", "error"]) {
      process.env.LOG_LEVEL = given;
      const lines: string[] = [];
      const fromEnv = createLogger({ write: (l) => lines.push(l) });
      fromEnv.warn("w");
      fromEnv.error("e");
      expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(["e"]);
    }

    const silent = printed({ level: "silent" });
    silent.logger.error("e");
    expect(silent.lines).toEqual([]);
  });

  it("prints an error with its name, message and stack", () => {
    const { logger, json } = printed();
    logger.error("unhandled error on POST /v1/webhooks/ci", { error: new TypeError("boom") });
    expect(json()[0]!.error).toMatchObject({
      name: "TypeError",
      message: "boom",
      stack: expect.stringContaining("TypeError: boom"),
    });
  });

  it("never prints a credential: by key, by shape, or by value when it knows the secret", () => {
    const webhookSecret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const { logger, lines } = printed({ secrets: [webhookSecret, "short"] });
    const apiKey = `slw_0123456789ab_${"A".repeat(43)}`;
    const agentToken = `slwa_${"b".repeat(43)}`;
    const signature = `sha256=${"c".repeat(64)}`;
    const slackSig = `v0=${"d".repeat(64)}`;
    const hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
    logger.warn(`request refused: Authorization: Bearer ${agentToken}; key ${apiKey}`, {
      headers: {
        authorization: `Bearer ${apiKey}`,
        "x-slipway-signature-256": signature,
        "x-slack-signature": slackSig,
      },
      webhookSecret,
      token: "anything at all",
      detail: `posting to ${hook} failed; signed ${signature} and ${slackSig}; secret was ${webhookSecret}`,
      error: new Error(`fetch ${hook} failed with key ${apiKey}`),
      tokenGeneration: 3,
      tokenHash: "e".repeat(64),
    });
    const out = lines.join("\n");
    for (const secret of [
      webhookSecret,
      apiKey,
      agentToken,
      signature.slice(7),
      slackSig.slice(3),
      "XXXXSECRET",
      "anything at all",
    ])
      expect(out).not.toContain(secret);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      message: "request refused: Authorization: Bearer [redacted]; key [redacted]",
      headers: {
        authorization: "[redacted]",
        "x-slipway-signature-256": "[redacted]",
        "x-slack-signature": "[redacted]",
      },
      webhookSecret: "[redacted]",
      detail:
        "posting to https://hooks.slack.com/[redacted] failed; signed sha256=[redacted] and v0=[redacted]; secret was [redacted]",
      // What identifies without granting anything stays.
      tokenGeneration: 3,
      tokenHash: "e".repeat(64),
    });
    // Too short to be a secret: ordinary words are left alone.
    logger.info("a short message");
    expect(lines[1]).toContain("a short message");
  });

  it("prints lines for people: time, component, message, and the keys the message does not say", () => {
    const { logger, lines } = printed({ format: "human", keys: { component: "reactor" } });
    const correlationId = "3f2a9c1d-0000-4000-8000-000000000000";
    logger.info("staging: instruction shop.staging.r1.k8s-staging sent to k8s-staging", {
      correlationId,
      releaseId: "r1",
      runtime: "k8s-staging",
      connectionId: "conn-9",
      reason: "two words",
    });
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} {2}reactor {4}staging: instruction shop\.staging\.r1\.k8s-staging sent to k8s-staging {2}corr=3f2a9c1d conn=conn-9 reason="two words"$/,
    );
    // An agent's events are correlated by its connection: the id is said once.
    logger.info("k8s-staging: agent connected", { correlationId: "conn-9", connectionId: "conn-9" });
    expect(lines[1]).toMatch(/k8s-staging: agent connected {2}corr=conn-9$/);
  });

  it("says when a line is a warning or an error, and follows an error with its stack", () => {
    const at = "2030-01-01T12:34:56.789Z";
    const line = humanLine({
      level: "ERROR",
      timestamp: at,
      message: "stream record 42 failed",
      component: "reactor",
      error: { name: "Error", message: "boom", stack: "Error: boom\n    at react (reactor.ts:1:1)" },
    });
    const [first, ...stack] = line.split("\n");
    expect(first).toMatch(/^\d\d:\d\d:56\.789 {2}reactor {4}ERROR stream record 42 failed {2}error="Error: boom"$/);
    expect(stack).toEqual(["    Error: boom", "        at react (reactor.ts:1:1)"]);
    expect(humanLine({ level: "WARN", timestamp: at, message: "dropping malformed message m3" })).toMatch(
      /^\S+ {2}slipway {4}WARN dropping malformed message m3$/,
    );
  });
});
