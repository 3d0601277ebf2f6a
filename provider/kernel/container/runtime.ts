import { CommandError, type Transport } from "../../transport/transport";

export interface RuntimeState {
  id: string;
  /** creating, created, running, paused, stopped */
  status: string;
  pid: number;
  created: string;
}

/** runc or crun through its CLI, always with kslice's own --root (ARCHITECTURE.md, "Where kslice keeps things on a host"). Starts go through start.sh (scripts.ts). */
export class OciRuntime {
  constructor(
    readonly t: Transport,
    readonly name: "runc" | "crun",
    readonly root: string,
  ) {}

  private argv(...args: string[]): string[] {
    return [this.name, "--root", this.root, ...args];
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const r = await this.t.run(this.argv("state", id), { allowFailure: true });
    if (r.exitCode !== 0) {
      if (/does not exist|not exist|No such file/i.test(r.stderr)) return undefined;
      throw new CommandError(this.t.target, r);
    }
    const s = JSON.parse(r.stdout) as { id: string; status: string; pid: number; created: string };
    return { id: s.id, status: s.status, pid: s.pid, created: s.created };
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.t.run(this.argv("kill", id, signal), { allowFailure: true });
  }

  /** Stops the init: SIGTERM, then SIGKILL after the grace period; bounded. */
  async stop(id: string, graceMs = 10_000): Promise<void> {
    await this.kill(id, "TERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      const s = await this.state(id);
      if (!s || s.status === "stopped") return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.kill(id, "KILL");
    for (let i = 0; i < 50; i++) {
      const s = await this.state(id);
      if (!s || s.status === "stopped") return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Thaws a paused (frozen) container: the same processes go on. */
  async resume(id: string): Promise<void> {
    await this.t.run(this.argv("resume", id));
  }

  /** Removes the container from the runtime; idempotent. */
  async delete(id: string): Promise<void> {
    const r = await this.t.run(this.argv("delete", "--force", id), { allowFailure: true });
    if (r.exitCode !== 0 && !/does not exist|not exist|No such file/i.test(r.stderr)) throw new CommandError(this.t.target, r);
  }
}
