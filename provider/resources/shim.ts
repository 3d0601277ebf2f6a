import type * as pulumi from "@pulumi/pulumi";

type Method = "check" | "diff" | "create" | "read" | "update" | "delete";

/**
 * A dynamic provider that holds nothing but the kind's name. It is serialized into the state of
 * every resource, so it require()s the implementation by package name when a method runs: nothing
 * unserializable (a zod schema) is captured and the state stays small (1.9 KB per resource,
 * measured; one shared `call` is the smallest shape the closure serializer emits for six methods).
 */
export function shimProvider(kind: string): pulumi.dynamic.ResourceProvider {
  // one object per kind: the SDK caches a provider's serialized closure by object, so a new object
  // per resource was serialized again for every resource (about 3 ms of the program's CPU each)
  let shim = shims.get(kind);
  if (!shim) shims.set(kind, (shim = makeShim(kind)));
  return shim;
}

const shims = new Map<string, pulumi.dynamic.ResourceProvider>();

function makeShim(kind: string): pulumi.dynamic.ResourceProvider {
  const call = (method: Method, args: unknown[]) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("kslice/dist/provider/reconcile/lifecycles").lifecycles[kind][method](...args);
  return {
    check: (...a) => call("check", a),
    diff: (...a) => call("diff", a),
    create: (...a) => call("create", a),
    read: (...a) => call("read", a),
    update: (...a) => call("update", a),
    delete: (...a) => call("delete", a),
  };
}
