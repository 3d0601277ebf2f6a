// Security state is part of the kernel diff: an init restarted by hand with more capabilities,
// no seccomp filter and no no_new_privs, its config.json then put back, is seen in /proc and
// restarted from the declaration by the next update.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { containerLifecycle as L } from "../../../provider/reconcile/container";
import { forgetReads } from "../../../provider/reconcile/host-context";
import { Containers } from "../../helpers/containers";
import { localRuntime } from "../../helpers/host";
import { leaksOf } from "../../helpers/leaks";
import { testPrefix } from "../../helpers/prefix";
import { sleep } from "../../helpers/procs";

const prefix = `${testPrefix}-secd`;
const cs = new Containers(prefix);
const runc = (...args: string[]) =>
  execFileSync(localRuntime(), ["--root", `/run/${prefix}/runtime`, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const status = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8");
const field = (s: string, k: string) => new RegExp(`^${k}:\\s*(\\S+)`, "m").exec(s)![1]!;

describe("a container's security as the kernel shows it", () => {
  afterAll(async () => {
    await cs.cleanup();
    expect(leaksOf(prefix)).toEqual([]);
  });

  it("finds an init running with other capabilities, seccomp and no_new_privs, and update restarts it as declared", async () => {
    const args = { command: ["sleep", "600"], stopGraceSeconds: 1 };
    const { outs: created, inputs } = await cs.create("box", args);
    expect(created.securityDrift).toEqual([]);
    expect(await L.diff("", created, inputs)).toEqual({ changes: false });
    const declared = status(created.pid as number);
    expect(field(declared, "Seccomp")).toBe("2");
    expect(field(declared, "NoNewPrivs")).toBe("1");

    // behind kslice's back: the same bundle started from an edited config, then the file put back
    const bundle = created.bundlePath as string;
    const original = readFileSync(`${bundle}/config.json`, "utf8");
    const spec = JSON.parse(original);
    for (const set of ["bounding", "effective", "permitted"]) spec.process.capabilities[set].push("CAP_SYS_ADMIN");
    spec.process.noNewPrivileges = false;
    delete spec.linux.seccomp;
    writeFileSync(`${bundle}/config.json`, JSON.stringify(spec));
    runc("delete", "--force", "box");
    // stdio to the log: the container would hold a pipe to this process open
    execFileSync("sh", ["-c", `${localRuntime()} --root /run/${prefix}/runtime run --detach --bundle ${bundle} box </dev/null >>${bundle}/log 2>&1`]);
    writeFileSync(`${bundle}/config.json`, original);
    const tampered = Number(runc("state", "box").match(/"pid": (\d+)/)![1]);
    expect(field(status(tampered), "Seccomp")).toBe("0");
    forgetReads();

    const read = (await L.read("", { ...created, pid: tampered })).props!;
    expect(read.pid).toBe(tampered);
    expect(read.securityDrift).toEqual(["capabilities", "seccomp", "no_new_privs"]);
    const outs = { ...read, pid: tampered }; // as a refresh records it: same pid, so the spec hash check cannot see it
    expect(await L.diff("", outs, inputs)).toEqual({ changes: true });

    const updated = (await L.update("", outs, inputs)).outs!;
    expect(updated.pid).not.toBe(tampered);
    expect(updated.securityDrift).toEqual([]);
    const now = status(updated.pid as number);
    expect(field(now, "Seccomp")).toBe("2");
    expect(field(now, "NoNewPrivs")).toBe("1");
    expect(field(now, "CapBnd")).toBe(field(declared, "CapBnd"));
    await sleep(100);
    forgetReads();
    expect(await L.diff("", updated, inputs)).toEqual({ changes: false });
  });
});
