import { createServer } from "node:net";

/** A port the OS reports free right now, for components started on ephemeral ports. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly component: string,
  ) {
    super(`port ${port} for ${component} is already in use; stop whatever holds it or choose another port`);
    this.name = "PortInUseError";
  }
}

/** Fails with a clear message when a configured port is taken. */
export function ensurePortFree(port: number, component: string, host = "127.0.0.1"): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new PortInUseError(port, component) : err),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}
