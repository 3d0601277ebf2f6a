import type { IoDevice } from "../../../../schema/limits";
import { blkioToIoWeight, ioWeightToBlkio } from "../convert";
import { deviceId, deviceLine, type ControllerMapping, type Files, type PlanContext, type Setting } from "../settings";

// v1's blkio: one throttle file per direction and unit, one "MAJ:MIN value" line per device; 0 removes.
const throttles = [
  ["readBps", "blkio.throttle.read_bps_device"],
  ["writeBps", "blkio.throttle.write_bps_device"],
  ["readIops", "blkio.throttle.read_iops_device"],
  ["writeIops", "blkio.throttle.write_iops_device"],
] as const;

function lines(d: IoDevice, ctx: PlanContext, reset: boolean): Setting[] {
  const id = deviceId(d.device, ctx);
  return throttles.map(([field, file]) => {
    const v = reset ? "max" : (d[field] ?? "max");
    return { key: `io.devices[${d.device}]`, controller: "blkio", file, value: `${id} ${v === "max" ? 0 : v}`, entry: id };
  });
}

export const io: ControllerMapping = {
  files: [{ controller: "blkio", file: "blkio.weight" }, ...throttles.map(([, file]) => ({ controller: "blkio", file }))],
  plan(l, ctx) {
    return [
      ...(l.io?.weight !== undefined ? [{ key: "io.weight", controller: "blkio", file: "blkio.weight", value: String(ioWeightToBlkio(l.io.weight)) }] : []),
      ...(l.io?.devices ?? []).flatMap((d) => lines(d, ctx, false)),
    ];
  },
  reset(l, ctx) {
    return [
      ...(l.io?.weight !== undefined ? [{ key: "io.weight", controller: "blkio", file: "blkio.weight", value: "500" }] : []),
      ...(l.io?.devices ?? []).flatMap((d) => lines(d, ctx, true)),
    ];
  },
  normalize(s, raw) {
    if (s.file === "blkio.weight") return (raw ?? "").trim();
    // No line for a device means no throttle, which is written as 0.
    return deviceLine(raw, s.entry!) ?? `${s.entry} 0`;
  },
  observe(files: Files) {
    const weight = Number((files["blkio/blkio.weight"] ?? "").trim());
    const byDevice = new Map<string, IoDevice>();
    for (const [field, file] of throttles) {
      for (const l of (files[`blkio/${file}`] ?? "").split("\n").filter(Boolean)) {
        const [device, v] = l.split(" ");
        const d = byDevice.get(device!) ?? { device: device! };
        d[field] = Number(v);
        byDevice.set(device!, d);
      }
    }
    return { io: { ...(weight ? { weight: blkioToIoWeight(weight) } : {}), devices: [...byDevice.values()] } };
  },
  unsupported(l, features) {
    return l.io?.weight !== undefined && !features.has("v1-blkio-weight")
      ? [
          {
            key: "io.weight",
            reason: "this host's blkio controller has no blkio.weight (no proportional I/O scheduler); use io.devices throttles, or a cgroup v2 host",
          },
        ]
      : [];
  },
};
