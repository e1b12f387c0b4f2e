/**
 * A demo agent for trying Slipway without a cluster: it connects like a real agent, prints every
 * instruction it gets, and reports it applied. Usage:
 *   npx tsx examples/demo-agent.ts <ws url> <runtime> <agent token>
 */
import WebSocket from "ws";

const [url = "ws://127.0.0.1:8788/local", runtime, token] = process.argv.slice(2);
if (!runtime || !token) {
  console.error("usage: npx tsx examples/demo-agent.ts <ws url> <runtime> <agent token>");
  process.exit(2);
}

const ws = new WebSocket(`${url}?runtime=${encodeURIComponent(runtime)}`, {
  headers: { authorization: `Bearer ${token}`, "x-slipway-agent-version": "1.0.0" },
});
ws.on("open", () => console.log(`[${runtime}] connected to ${url}`));
ws.on("unexpected-response", (_req, res) => {
  let body = "";
  res.on("data", (d: Buffer) => (body += d.toString()));
  res.on("end", () => {
    console.error(`[${runtime}] refused (${res.statusCode}): ${body}`);
    process.exit(1);
  });
});
ws.on("message", (data) => {
  const message = JSON.parse(data.toString()) as {
    type: string;
    instructionId?: string;
    releaseId?: string;
    channel?: string;
    payload?: unknown;
    message?: string;
  };
  if (message.type === "error") return console.error(`[${runtime}] server says: ${message.message}`);
  if (message.type !== "instruction") return;
  console.log(
    `[${runtime}] instruction ${message.instructionId} (release ${message.releaseId} to ${message.channel}):\n${JSON.stringify(message.payload, null, 2)}`,
  );
  const send = (m: object) => ws.send(JSON.stringify(m));
  send({ action: "ack", instructionId: message.instructionId });
  send({ action: "report", instructionId: message.instructionId, status: "applying" });
  setTimeout(
    () =>
      send({
        action: "report",
        instructionId: message.instructionId,
        status: "succeeded",
        message: "applied by the demo agent",
      }),
    500,
  );
});
// Well inside API Gateway's 10-minute idle timeout.
setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ action: "heartbeat" })), 60_000).unref();
ws.on("close", (code, reason) => {
  console.log(`[${runtime}] closed (${code} ${reason.toString()})`);
  process.exit(0);
});
