import type { IoDevice } from "../../../../schema/limits";
import { deviceId, deviceLine, trim, type ControllerMapping, type PlanContext, type Setting } from "../settings";

const keys = ["rbps", "wbps", "riops", "wiops"] as const;
const fields = { rbps: "readBps", wbps: "writeBps", riops: "readIops", wiops: "writeIops" } as const;

function line(d: IoDevice, ctx: PlanContext): Setting {
  const id = deviceId(d.device, ctx);
  const value = `${id} ${keys.map((k) => `${k}=${d[fields[k]] ?? "max"}`).join(" ")}`;
  return { key: `io.devices[${d.device}]`, controller: "io", file: "io.max", value, entry: id };
}

export const io: ControllerMapping = {
  files: [
    { controller: "io", file: "io.weight" },
    { controller: "io", file: "io.max" },
  ],
  plan(l, ctx) {
    return [
      ...(l.io?.weight !== undefined ? [{ key: "io.weight", controller: "io", file: "io.weight", value: `default ${l.io.weight}` }] : []),
      ...(l.io?.devices ?? []).map((d) => line(d, ctx)),
    ];
  },
  reset(l, ctx) {
    return [
      ...(l.io?.weight !== undefined ? [{ key: "io.weight", controller: "io", file: "io.weight", value: "default 100" }] : []),
      ...(l.io?.devices ?? []).map((d) => line({ device: d.device }, ctx)),
    ];
  },
  normalize(s, raw) {
    if (s.file === "io.weight") return (raw ?? "").split("\n").find((l) => l.startsWith("default ")) ?? "";
    // A device without a line in io.max has no limits: the same as all "max".
    return deviceLine(raw, s.entry!) ?? `${s.entry} ${keys.map((k) => `${k}=max`).join(" ")}`;
  },
  observe(files) {
    const weight = /^default (\d+)/m.exec(files["io/io.weight"] ?? "");
    const devices = trim(files["io/io.max"])
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [device, ...kv] = l.split(" ");
        const d: Record<string, string | number> = { device: device! };
        for (const pair of kv) {
          const [k, v] = pair.split("=") as [keyof typeof fields, string];
          if (fields[k] && v !== "max") d[fields[k]] = Number(v);
        }
        return d as IoDevice;
      });
    return { io: { ...(weight ? { weight: Number(weight[1]) } : {}), devices } };
  },
  unsupported: () => [],
};
