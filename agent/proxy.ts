import { Agent as HttpAgent, request as httpRequest, type AgentOptions } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";

/**
 * Reaching Slipway through an HTTP proxy (`--https-proxy`): every connection is a CONNECT tunnel
 * through the proxy, and TLS (for wss:// and https://) runs end to end inside it, so the proxy sees
 * only the host and port. Node's WebSocket client and https take such an agent; fetch does not,
 * which is why payloads are fetched with `get` below.
 */

/** Opens a tunnel to host:port through the proxy; resolves with the raw socket once it answers 200. */
function tunnel(proxy: URL, host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const proxyPort = Number(proxy.port || (proxy.protocol === "https:" ? 443 : 80));
    const auth = proxy.username
      ? {
          "proxy-authorization": `Basic ${Buffer.from(
            `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`,
          ).toString("base64")}`,
        }
      : {};
    const req = (proxy.protocol === "https:" ? httpsRequest : httpRequest)({
      host: proxy.hostname,
      port: proxyPort,
      method: "CONNECT",
      path: `${host}:${port}`,
      headers: { host: `${host}:${port}`, ...auth },
    });
    req.once("connect", (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`the proxy ${proxy.host} refused the tunnel to ${host}:${port} (${res.statusCode})`));
    });
    req.once("error", (err) => reject(new Error(`the proxy ${proxy.host} cannot be reached: ${err.message}`)));
    req.end();
  });
}

type ConnectOptions = {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
};

/** An agent for `ws://`/`http://` (plain) or `wss://`/`https://` (TLS inside the tunnel) through the proxy. */
export function proxyAgent(proxyUrl: string, tls: boolean): HttpAgent {
  const proxy = new URL(proxyUrl);
  const createConnection = (options: ConnectOptions, callback: (err: Error | null, socket?: Duplex) => void) => {
    const host = options.hostname ?? options.host ?? "localhost";
    const port = Number(options.port ?? (tls ? 443 : 80));
    tunnel(proxy, host, port).then(
      (socket) =>
        callback(null, tls ? tlsConnect({ socket, servername: options.servername ?? host, host, port }) : socket),
      (err: Error) => callback(err),
    );
    return undefined;
  };
  const options: AgentOptions = { keepAlive: false };
  const agent = tls ? new HttpsAgent(options) : new HttpAgent(options);
  // Node calls createConnection with a callback when it returns nothing: the tunnel is asynchronous.
  (agent as unknown as { createConnection: typeof createConnection }).createConnection = createConnection;
  return agent;
}

/** GET a URL (through the proxy when one is given), answering its status and body. */
export function get(
  url: string,
  headers: Record<string, string>,
  proxyUrl?: string,
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const tls = target.protocol === "https:";
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(
      target,
      { headers, ...(proxyUrl ? { agent: proxyAgent(proxyUrl, tls) } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}
