import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * Input as an attacker or a careless client sends it, against the whole local stack: each is
 * refused with a 4xx, a code and a place, the log does not change, and the server lives on.
 */

let p: Pipeline;
beforeAll(async () => {
  p = await openPipeline("hostile");
}, 120_000);
afterAll(() => p?.close());

async function putConfig(body: string, contentType = "application/yaml") {
  const res = await fetch(`${p.stack.httpUrl}/v1/configs`, {
    method: "PUT",
    headers: { authorization: `Bearer ${p.secrets.adminApiKey}`, "content-type": contentType },
    body,
  });
  return { status: res.status, body: (await res.json()) as { code: string; errors?: { message: string }[] } };
}

const configLog = () => p.store.read(streams.config());

describe("config bodies that used to take the server down", () => {
  it("refuses deep YAML and JSON with 400 and stays up for the next request", async () => {
    const before = (await configLog()).length;
    // This pair ended the process with an out-of-memory error in V8's regular-expression compiler.
    expect(await putConfig("a: " + "[".repeat(30000))).toMatchObject({
      status: 400,
      body: { code: "config.too_deep" },
    });
    expect(await putConfig("- ".repeat(5000) + "x")).toMatchObject({ status: 400, body: { code: "config.too_deep" } });
    expect(await putConfig("[".repeat(200_000) + "]".repeat(200_000), "application/json")).toMatchObject({
      status: 400,
      body: { code: "config.too_deep" },
    });
    expect((await putConfig("<<: *undefined")).body.code).toBe("config.unparseable");
    const bomb = [
      "a: &a [x,x,x,x,x,x,x,x,x]",
      ...Array.from(
        { length: 12 },
        (_, i) =>
          `b${i}: &b${i} [${Array(9)
            .fill(i ? `*b${i - 1}` : "*a")
            .join(",")}]`,
      ),
    ].join("\n");
    expect((await putConfig(bomb)).body.code).toBe("config.too_many_aliases");

    expect((await p.api("/v1/applications")).status).toBe(200);
    expect((await configLog()).length).toBe(before);
  });
});

describe("a body over the limit", () => {
  it("is answered 413 and the client's kept-alive connection is closed cleanly, not reset under its next request", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(p.stack.httpUrl);
    const request = (method: string, path: string, body?: string) =>
      new Promise<{ status?: number; connection?: string } | { error: string }>((resolve) => {
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            agent,
            headers: {
              authorization: `Bearer ${p.secrets.adminApiKey}`,
              "content-type": "application/yaml",
              ...(body ? { "content-length": Buffer.byteLength(body) } : {}),
            },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode, connection: res.headers.connection }));
          },
        );
        req.on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
        req.end(body);
      });
    try {
      expect(await request("PUT", "/v1/configs", "a: " + "x".repeat(2 * 1024 * 1024))).toEqual({
        status: 413,
        connection: "close",
      });
      expect(await request("GET", "/v1/applications")).toMatchObject({ status: 200 });
      // Endpoints without a limit of their own read 64 KB at most.
      expect(await request("POST", "/v1/api-keys", JSON.stringify({ name: "x".repeat(100 * 1024) }))).toEqual({
        status: 413,
        connection: "close",
      });
    } finally {
      agent.destroy();
    }
  });
});

describe("names every object already has", () => {
  it("refuses an approval or a channel named after an Object property, appending nothing", async () => {
    await p.application("protos");
    const releaseId = await p.release("protos", "1.0.0");
    const before = (await p.releaseEvents(releaseId)).length;
    for (const [channel, approval] of [
      ["production", "constructor"],
      ["production", "__proto__"],
      ["production", "toString"],
      ["constructor", "approval"],
    ]) {
      const res = await p.api(`/v1/releases/${releaseId}/channels/${channel}/approvals`, {
        method: "POST",
        body: { decision: "reject", approval },
      });
      expect(res.status, `${channel} ${approval}: ${JSON.stringify(res.body)}`).toBe(400);
    }
    expect((await p.releaseEvents(releaseId)).length).toBe(before);
    expect((await p.releaseEvents(releaseId)).some((e) => e.type === "ApprovalRejected")).toBe(false);
  });

  it("refuses such names in config, naming the field", async () => {
    const res = await p.api("/v1/configs", {
      method: "PUT",
      body: [
        {
          application: {
            name: "constructor",
            releaseChannels: [{ name: "a", runtimes: [{ runtime: "k8s-staging" }] }],
          },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain("application.name");
  });
});

describe("a release's view of a channel it left", () => {
  it("says replaced where it converged and another release took its place", async () => {
    await p.application("handover");
    const first = await p.release("handover", "1.0.0");
    await eventually(() => p.convergedOn("handover", "staging", first));
    const second = await p.release("handover", "2.0.0");
    await eventually(() => p.convergedOn("handover", "staging", second));
    await eventually(async () => {
      const view = await p.api(`/v1/releases/${first}`);
      const staging = (view.body.channels as { name: string; deployment: string }[]).find((c) => c.name === "staging");
      return staging?.deployment === "replaced";
    });
  });
});
