/**
 * Many agents in one process of their own, so the gateway's memory is measured without them:
 * connects every agent named in the JSON file argv[2] (at most 400 new connections a second, inside
 * API Gateway's 500/s), prints "ready", then for every message prints
 * `<kind> <runtime> <epoch ms> <release id | raw-<n> | ->` and, for instructions, acks and reports
 * success as an agent does. Stops when stdin ends.
 */
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const { url, agents } = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as {
  url: string;
  agents: { runtime: string; token: string }[];
};
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);
const sockets: WebSocket[] = [];

for (let i = 0; i < agents.length; i += 40) {
  const started = Date.now();
  await Promise.all(
    agents.slice(i, i + 40).map(
      ({ runtime, token }) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${url}?runtime=${runtime}`, {
            headers: { authorization: `Bearer ${token}`, "x-slipway-agent-version": "1.0.0" },
          });
          ws.once("open", () => resolve());
          ws.once("error", reject);
          ws.on("message", (data) => {
            const message = JSON.parse(data.toString()) as {
              type?: string;
              code?: string;
              instructionId?: string;
              releaseId?: string;
              n?: number;
            };
            const tag = message.releaseId ?? (message.n === undefined ? "-" : `raw-${message.n}`);
            process.stdout.write(`${message.type ?? "raw"} ${runtime} ${now()} ${tag}\n`);
            const report = () =>
              ws.send(
                JSON.stringify({
                  action: "report",
                  instructionId: message.instructionId,
                  status: "succeeded",
                  message: "rolled out",
                }),
              );
            if (message.type === "instruction") {
              ws.send(JSON.stringify({ action: "ack", instructionId: message.instructionId }));
              report();
            }
            // As the protocol asks (and the reference agent does): a report refused under
            // contention is sent again after a short, jittered pause.
            if (message.type === "error" && message.code === "stream.conflict" && message.instructionId)
              setTimeout(report, 200 + Math.random() * 800);
          });
          sockets.push(ws);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
}
process.stdout.write("ready\n");
process.stdin.resume();
process.stdin.on("end", () => {
  for (const ws of sockets) ws.close();
  process.exit(0);
});
