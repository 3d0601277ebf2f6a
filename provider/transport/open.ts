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

export function openTransport(c: Connection): Transport {
  const key = connectionKey(c);
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
