import { createHash } from "node:crypto";
import type { Connection } from "../../schema/connection";
import { LocalTransport } from "./local";
import { SshTransport } from "./ssh";
import type { Transport } from "./transport";

// One transport per host per provider process: SSH multiplexing and batched kernel reads are
// shared by every resource on that host.
const open = new Map<string, Transport>();

export function connectionKey(c: Connection): string {
  return c.type === "local" ? "local" : `${c.user}@${c.host}:${c.port}`;
}

/**
 * The cache key of a transport: the target and every setting that changes how it connects (key,
 * host key, checking, timeout), the secret ones hashed so that no key ends up in a map key.
 */
export function transportKey(c: Connection): string {
  if (c.type === "local") return "local";
  const settings = JSON.stringify([c.privateKey, c.hostKey ?? null, c.insecureIgnoreHostKey, c.connectTimeoutSeconds]);
  return `${connectionKey(c)}#${createHash("sha256").update(settings).digest("hex").slice(0, 16)}`;
}

export function openTransport(c: Connection): Transport {
  const key = transportKey(c);
  let t = open.get(key);
  if (!t) {
    t = c.type === "local" ? new LocalTransport() : new SshTransport(c);
    open.set(key, t);
  }
  return t;
}

export async function closeAllTransports(): Promise<void> {
  const all = [...open.values()];
  open.clear();
  await Promise.all(all.map((t) => t.close()));
}
