import { describe, expect, it } from "vitest";
import { containerArgs } from "../../schema/container";
import { parseInput } from "../../schema/issues";
import { sameSysctl, sysctlNamespace, sysctlPath } from "../../schema/sysctl";

const parse = (sysctls: unknown) => parseInput(containerArgs, { host: { connection: { type: "local" } }, name: "web", command: ["sleep", "1"], sysctls });

describe("a container's sysctls", () => {
  it("takes those of its own namespaces: IPC, UTS and network", () => {
    const ok = {
      "net.core.somaxconn": "1024",
      "net.ipv4.ip_unprivileged_port_start": "80",
      "kernel.shmmax": "68719476736",
      "kernel.sem": "250 32000 32 128",
      "fs.mqueue.msg_max": "20",
      "kernel.domainname": "corp",
    };
    const r = parse(ok);
    expect(r.ok && r.value.sysctls).toEqual(ok);
    expect(parse(undefined)).toMatchObject({ ok: true, value: { sysctls: {} } });
    expect(["kernel.shm_rmid_forced", "kernel.msgmnb", "fs.mqueue.queues_max", "net.ipv4.conf.all.rp_filter"].map(sysctlNamespace)).toEqual([
      "ipc",
      "ipc",
      "ipc",
      "net",
    ]);
  });

  it("refuses a host-wide sysctl, naming it and what is namespaced", () => {
    expect(parse({ "vm.swappiness": "10", "net.core.somaxconn": "1024", "kernel.panic": "1" })).toEqual({
      ok: false,
      failures: [
        {
          property: "sysctls.vm.swappiness",
          reason:
            'got "vm.swappiness", which is not namespaced: it would change the host; expected kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname or net.*',
        },
        { property: "sysctls.kernel.panic", reason: expect.stringContaining('got "kernel.panic", which is not namespaced') },
      ],
    });
    // kernel.* beyond IPC is the host's, however close the name
    for (const key of ["kernel.shmmax_", "kernel.msg", "kernel.printk", "kernel.dmesg_restrict", "fs.file-max", "user.max_user_namespaces"]) {
      expect(parse({ [key]: "1" })).toMatchObject({ ok: false, failures: [{ property: `sysctls.${key}`, reason: expect.stringContaining("not namespaced") }] });
    }
  });

  it("sends the host name to the hostname input, and refuses malformed names and values", () => {
    expect(parse({ "kernel.hostname": "x" })).toMatchObject({
      ok: false,
      failures: [{ property: "sysctls.kernel.hostname", reason: expect.stringContaining("hostname input") }],
    });
    expect(parse({ "net/core/somaxconn": "1" })).toMatchObject({
      ok: false,
      failures: [{ property: "sysctls.net/core/somaxconn", reason: expect.stringContaining("with dots") }],
    });
    expect(parse({ "net.core.somaxconn": "1\n2" })).toMatchObject({
      ok: false,
      failures: [{ property: "sysctls.net.core.somaxconn", reason: 'got "1\\n2"; expected a value on one line, like "1024"' }],
    });
    expect(parse({ "net.core.somaxconn": " " })).toMatchObject({ ok: false });
    expect(parse({ "net.core.somaxconn": 1024 })).toMatchObject({ ok: false, failures: [{ property: "sysctls.net.core.somaxconn" }] });
  });

  it("finds the file under /proc/sys and compares values as the kernel prints them", () => {
    expect(sysctlPath("net.ipv4.ip_unprivileged_port_start")).toBe("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    expect(sameSysctl("250\t32000\t32\t128\n", "250 32000 32 128")).toBe(true);
    expect(sameSysctl("1024", "1025")).toBe(false);
  });
});
