import { execFile } from "node:child_process";
import { containerLifecycle as L } from "../../provider/reconcile/container";
import { hostLifecycle } from "../../provider/reconcile/host";
import type { Props } from "../../provider/reconcile/provider-types";
import { localRuntime } from "./host";

/** Creates containers through the real lifecycle (check then create) and removes them all at the end. */
export class Containers {
  private made: { id: string; outs: Props }[] = [];
  constructor(
    readonly prefix: string,
    readonly connection: Props = { type: "local" },
  ) {}

  get host() {
    return { connection: this.connection, prefix: this.prefix };
  }

  async create(name: string, args: Props): Promise<{ id: string; outs: Props; inputs: Props }> {
    const c = await L.check({}, { host: this.host, name, ...args });
    if (c.failures) throw new Error(JSON.stringify(c.failures));
    const r = await L.create(c.inputs!);
    this.made.push({ id: r.id, outs: r.outs! });
    return { id: r.id, outs: r.outs!, inputs: c.inputs! };
  }

  /** Runs a command inside a running container of this machine with the runtime's exec. */
  exec(name: string, script: string): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(localRuntime(), ["--root", `/run/${this.prefix}/runtime`, "exec", name, "sh", "-c", script], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
  }

  /** Deletes every container made here, then (unless other resources remain) the host's setup. */
  async cleanup(deleteHost = true): Promise<void> {
    // a failed delete is said (the leak check that follows fails on what it left)
    for (const m of this.made.reverse()) await L.delete(m.id, m.outs).catch((e: unknown) => console.error(`cleanup: delete of ${m.id} failed: ${String(e)}`));
    this.made = [];
    if (deleteHost) await this.deleteHost();
  }

  deleteHost(): Promise<void> {
    return hostLifecycle.delete("", { ...this.host, runtime: "auto" });
  }
}
