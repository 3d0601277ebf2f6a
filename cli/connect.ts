import { readFileSync } from "node:fs";
import { connection as connectionSchema, type Connection } from "../schema/connection";
import { prefix as prefixSchema, runtimeChoices } from "../schema/host";
import { parseInput } from "../schema/issues";
import { PrefixObserver } from "../provider/kernel/observe/sample";
import type { RuntimeName } from "../provider/kernel/host-facts";
import { openTransport } from "../provider/transport/open";
import { UsageError } from "./usage";

export interface HostOptions {
  ssh?: string;
  key?: string;
  "host-key"?: string;
  "insecure-ignore-host-key"?: boolean;
  prefix?: string;
  runtime?: string;
}

/** --ssh user@host[:port] --key FILE [--host-key "ssh-ed25519 …"], or the local host. */
export function connectionOf(o: HostOptions): Connection {
  if (!o.ssh) {
    if (o.key || o["host-key"]) throw new UsageError("--key and --host-key need --ssh user@host[:port]");
    return { type: "local" };
  }
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(o.ssh);
  if (!m) throw new UsageError(`--ssh: got ${JSON.stringify(o.ssh)}; expected user@host[:port], e.g. root@10.0.0.5:22`);
  if (!o.key) throw new UsageError("--ssh needs --key FILE (an OpenSSH private key)");
  let privateKey: string;
  try {
    privateKey = readFileSync(o.key, "utf8");
  } catch (e) {
    throw new UsageError(`--key: cannot read ${o.key}: ${(e as Error).message}`);
  }
  const raw = {
    type: "ssh",
    host: m[2]!.replace(/^\[|\]$/g, ""),
    ...(m[3] ? { port: Number(m[3]) } : {}),
    ...(m[1] ? { user: m[1] } : {}),
    privateKey,
    ...(o["host-key"] ? { hostKey: o["host-key"] } : {}),
    ...(o["insecure-ignore-host-key"] ? { insecureIgnoreHostKey: true } : {}),
  };
  const r = parseInput(connectionSchema, raw);
  if (!r.ok) throw new UsageError(r.failures.map((f) => `--${f.property === "hostKey" ? "host-key" : f.property}: ${f.reason}`).join("; "));
  return r.value;
}

/** The prefix: --prefix, else KSLICE_PREFIX from the environment, else the Host's default ("kslice"). */
export function prefixOf(o: HostOptions, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = o.prefix === undefined && env.KSLICE_PREFIX ? env.KSLICE_PREFIX : undefined;
  const p = o.prefix ?? fromEnv ?? "kslice";
  const r = prefixSchema.safeParse(p);
  if (!r.success)
    throw new UsageError(
      `${fromEnv ? "KSLICE_PREFIX" : "--prefix"}: got ${JSON.stringify(p)}; expected lowercase letters, digits and "-", starting with a letter`,
    );
  return p;
}

/** Opens the host (one facts read) and the prefix's observer. An unreachable host fails here. */
export async function openObserver(o: HostOptions): Promise<PrefixObserver> {
  const runtime = o.runtime ?? "auto";
  if (!(runtimeChoices as readonly string[]).includes(runtime)) {
    throw new UsageError(`--runtime: got ${JSON.stringify(runtime)}; expected one of ${runtimeChoices.join(", ")}`);
  }
  const prefix = prefixOf(o);
  const t = openTransport(connectionOf(o));
  return PrefixObserver.open(t, prefix, runtime as "auto" | RuntimeName);
}
