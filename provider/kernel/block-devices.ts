import { shellQuote } from "./shell";
import type { Transport } from "../transport/transport";

/**
 * Resolves block devices named by path ("/dev/vda") or number ("254:0") to "MAJ:MIN" on the host,
 * in one command. Unknown devices are left out of the result.
 */
export async function resolveBlockDevices(t: Transport, devices: string[]): Promise<Record<string, string>> {
  if (devices.length === 0) return {};
  const script = devices
    .map((d) =>
      /^\d+:\d+$/.test(d)
        ? `[ -e /sys/dev/block/${d} ] && echo ${shellQuote(d)} ${d}`
        : `[ -b ${shellQuote(d)} ] && echo ${shellQuote(d)} $(stat -L -c '%t:%T' ${shellQuote(d)})`,
    )
    .map((line) => `${line} || true`)
    .join("; ");
  const r = await t.run(["sh", "-c", script]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const [name, id] = line.split(" ");
    if (!name || !id) continue;
    // stat prints the numbers in hex
    out[name] = /^\d+:\d+$/.test(name)
      ? id
      : id
          .split(":")
          .map((h) => parseInt(h, 16))
          .join(":");
  }
  return out;
}
