// npm run fleet-demo: a drain across two lab VMs from one command. Boots two cgroup v2 VMs (test/lab),
// brings up examples/fleet with 4 replicas (2 per VM), marks lab-2 draining and runs up again (its
// replicas move to lab-1), shows the placement each time, destroys the stack and stops the VMs.
// State goes to a temp backend, removed at the end.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLab, sshRun } from "../../test/lab/lab";

const root = join(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "kslice-fleet-demo-"));
const env = { ...process.env, PULUMI_BACKEND_URL: `file://${work}`, PULUMI_CONFIG_PASSPHRASE: "fleet-demo", KSLICE_FLEET_KEY: "" };
const say = (s: string) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);

function stack(op: string, config: Record<string, string>): Record<string, unknown> {
  const args = [
    join(root, "dist/scripts/stack.js"),
    op,
    join(root, "examples/fleet"),
    "--stack",
    "demo",
    "--workdir",
    join(work, "project"),
    "--json",
    "--secret-env",
    "kslice:privateKey=KSLICE_FLEET_KEY",
  ];
  for (const [k, v] of Object.entries(config)) args.push("--config", `kslice:${k}=${v}`);
  const out = execFileSync(process.execPath, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 });
  return JSON.parse(out) as Record<string, unknown>;
}

function show(outputs: Record<string, unknown>): void {
  const assignments = outputs.assignments as Record<string, { host: string; reason: string }>;
  for (const [replica, a] of Object.entries(assignments)) console.log(`  ${replica.padEnd(6)} on ${a.host}: ${a.reason}`);
}

async function main(): Promise<void> {
  say("booting two lab VMs (cgroup v2 under QEMU; a minute or more under TCG)");
  const lab = await startLab(2, { log: (s) => console.log(s) });
  try {
    env.KSLICE_FLEET_KEY = lab.hosts[0]!.ssh.privateKey;
    const hosts = JSON.stringify(lab.hosts.map((h) => ({ name: h.name, host: h.ssh.host, port: h.ssh.port, hostKey: h.ssh.hostKey })));
    const config = { hosts, replicas: "4" };
    say("pulumi up: 4 replicas over lab-1 and lab-2");
    show((stack("up", config).outputs ?? {}) as Record<string, unknown>);
    say("pulumi up with lab-2 draining: its replicas move to lab-1");
    show((stack("up", { ...config, draining: "lab-2" }).outputs ?? {}) as Record<string, unknown>);
    for (const h of lab.hosts) {
      const r = await sshRun(h, "crun --root /run/kslice/runtime list 2>/dev/null | awk 'NR>1 {print $1, $3}'");
      console.log(`  ${h.name} runs: ${r.stdout.trim().split("\n").filter(Boolean).join(", ") || "nothing"}`);
    }
    say("pulumi destroy");
    stack("destroy", { ...config, draining: "lab-2" });
  } finally {
    await lab.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
