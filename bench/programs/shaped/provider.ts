// The do-nothing provider behind bench/programs/shaped: what kslice's lifecycles return, in the
// same shape (inputs echoed, the same output keys with values of the same kind), without reading
// or changing anything. Keep the keys in step with provider/reconcile (container/observe.ts
// outputs(), container/move-records.ts, host.ts, limits/index.ts) when they change.
type Props = Record<string, unknown>;
type Kind = "host" | "limits" | "container";

// check drops what kslice's check drops (parentLimits: for admission only, never stored)
const checked = (news: Props): Props => {
  const { parentLimits: _parentLimits, ...inputs } = news;
  return inputs;
};

const machineId = "0123456789abcdef0123456789abcdef";

function outs(kind: Kind, inputs: Props): Props {
  const name = String(inputs.name ?? "");
  if (kind === "host") {
    return {
      ...inputs,
      machineId,
      hostname: "bench",
      kernelRelease: "6.1.0",
      cgroupMode: "hybrid",
      cgroupControllers: ["cpu", "memory", "pids"],
      cpuCount: 2,
      memoryTotalBytes: 25_000_000_000,
      userNamespaces: true,
      runtimes: [{ name: "runc", path: "/usr/sbin/runc", version: "1.1.5" }],
      runtimeName: "runc",
      runtimeVersion: "1.1.5",
    };
  }
  if (kind === "limits") return { ...inputs, path: name };
  const prefix = (inputs.host as { prefix?: string } | undefined)?.prefix ?? "kslice";
  const bundle = `/var/lib/${prefix}/containers/${name}`;
  return {
    ...inputs,
    runtimeId: name,
    machineId,
    runtime: "runc",
    status: "running",
    pid: 4_000_000,
    startedAt: new Date(0).toISOString(),
    cgroupPath: inputs.parent ? `${String(inputs.parent)}/${name}` : name,
    bundlePath: bundle,
    logPath: `${bundle}/log`,
    usage: null,
    addresses: {},
    address: null,
    securityDrift: [],
    lastMigration: null,
    leftBehind: [],
  };
}

export function shaped(kind: Kind) {
  return {
    async check(_olds: Props, news: Props) {
      return { inputs: checked(news) };
    },
    async diff() {
      return { changes: false };
    },
    async create(inputs: Props) {
      return { id: String(inputs.name ?? kind), outs: outs(kind, inputs) };
    },
    async read(id: string, props: Props) {
      return { id, props };
    },
    async delete() {},
  };
}
