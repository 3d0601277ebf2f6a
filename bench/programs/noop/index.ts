import * as pulumi from "@pulumi/pulumi";

// The engine's floor: N dynamic resources whose provider does nothing. Same engine, same plugin
// (pulumi-resource-pulumi-nodejs), same backend as the kslice program; no kernel work at all.
const noopProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: { i: number }) {
    return { id: String(inputs.i), outs: {} };
  },
  async diff() {
    return { changes: false };
  },
};

class Noop extends pulumi.dynamic.Resource {
  constructor(name: string, i: number) {
    super(noopProvider, name, { i }, {}, "kslicebench", "Noop");
  }
}

export default async () => {
  const n = Number(new pulumi.Config("kslice").require("count"));
  for (let i = 0; i < n; i++) new Noop(`noop-${i}`, i);
  return { count: n };
};
