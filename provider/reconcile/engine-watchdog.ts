import { connect } from "node:net";
import { info } from "../log";

/**
 * Ends an orphaned provider process. The engine starts the dynamic provider (`pulumi-resource-
 * pulumi-nodejs`, a sh that runs node on @pulumi/pulumi's cmd/dynamic-provider) with the engine's
 * gRPC address as its argument, and nothing in that host notices the engine going away: after a
 * `kill -9` of the CLI the process stayed for more than 10 minutes. The sh in between stays the
 * parent, so the parent pid says nothing; the engine's address stops answering instead. Checked
 * every `intervalMs`; two refused connections in a row end the process (one could be a blip).
 */
export function watchEngine(argv: string[] = process.argv, intervalMs = Number(process.env.KSLICE_ENGINE_WATCH_MS ?? 2000)): boolean {
  if (!/dynamic-provider/.test(argv[1] ?? "")) return false;
  const address = [...argv.slice(2)].reverse().find((a) => !a.startsWith("-") && /^[^\s]+:\d+$/.test(a));
  if (!address) return false;
  const cut = address.lastIndexOf(":");
  const host = address.slice(0, cut).replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = Number(address.slice(cut + 1));
  let misses = 0;
  let probing = false;
  const timer = setInterval(() => {
    if (probing) return;
    probing = true;
    const socket = connect({ host, port });
    socket.setTimeout(intervalMs * 2);
    let settled = false;
    const done = (alive: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      probing = false;
      misses = alive ? 0 : misses + 1;
      if (misses >= 2 || process.ppid === 1) {
        info(`the engine at ${address} is gone; this provider process exits`);
        process.exit(1);
      }
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  }, intervalMs);
  timer.unref(); // the gRPC server keeps the process alive while the engine is there
  return true;
}
