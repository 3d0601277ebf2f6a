import { execFile } from "node:child_process";
import { networkLifecycle as N } from "../../provider/reconcile/network";
import type { Props } from "../../provider/reconcile/provider-types";

/** Creates networks through the real lifecycle (check then create) and removes them at the end. */
export class Networks {
  private made: { id: string; outs: Props }[] = [];
  constructor(readonly prefix: string) {}

  get host() {
    return { connection: { type: "local" }, prefix: this.prefix };
  }

  async create(name: string, args: Props): Promise<{ id: string; outs: Props; inputs: Props }> {
    const c = await N.check({}, { host: this.host, name, ...args });
    if (c.failures) throw new Error(JSON.stringify(c.failures));
    const r = await N.create(c.inputs!);
    this.made.push({ id: r.id, outs: r.outs! });
    return { id: r.id, outs: r.outs!, inputs: c.inputs! };
  }

  /** A network's ref, as a Network resource hands it to containers. */
  ref(outs: Props) {
    return {
      name: outs.name,
      subnet: outs.subnet,
      gateway: outs.gateway,
      bridge: outs.bridge,
      ...(outs.subnet6 ? { subnet6: outs.subnet6, gateway6: outs.gateway6 } : {}),
    };
  }

  async cleanup(): Promise<void> {
    for (const m of this.made.reverse()) await N.delete(m.id, m.outs).catch(() => undefined);
  }
}

/** Runs a command, resolving with its exit code and output (never rejects; bounded by timeoutMs). */
export function sh(script: string, timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", script], { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}
