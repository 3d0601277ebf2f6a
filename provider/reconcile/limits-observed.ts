import type { Limits } from "../../schema/limits";
import { formatSize, parseSize } from "../../schema/units";
import type { Setting } from "../kernel/cgroup/settings";
import type { Props } from "./provider-types";

/** Replaces each drifted input in the user's limits with the kernel's value, in the user's notation. */
export function observedInputs(userLimits: Record<string, Record<string, unknown>>, drift: Setting[], observed: Limits): Props {
  const out = structuredClone(userLimits ?? {});
  for (const s of drift) {
    const [ctrl, field, sub] = s.key.split(".");
    const obs = (observed as Record<string, Record<string, unknown>>)[ctrl!] ?? {};
    if (s.key.startsWith("io.devices[")) {
      const dev = /\[(.*)\]/.exec(s.key)![1]!;
      const list = (out.io?.devices as { device: string }[]) ?? [];
      const seen = ((observed.io?.devices ?? []) as { device: string }[]).find((d) => d.device === s.entry);
      out.io!.devices = list.map((d) => (d.device === dev ? { ...(seen ?? {}), device: dev } : d));
    } else if (ctrl === "cpu" && field === "cpuset") {
      const v = (obs.cpuset as Record<string, string> | undefined)?.[sub!];
      out.cpu = { ...out.cpu, cpuset: { ...(out.cpu?.cpuset as object), [sub!]: v ?? "" } };
    } else {
      const v = obs[field!];
      const written = out[ctrl!]?.[field!];
      // sizes written as "256Mi" come back in the same style
      const shown = typeof v === "number" && typeof written === "string" && parseSize(written) !== undefined ? formatSize(v) : v;
      out[ctrl!] = { ...out[ctrl!], [field!]: shown ?? "max" };
    }
  }
  return out;
}

