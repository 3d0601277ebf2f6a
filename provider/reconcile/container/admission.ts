import type { ContainerArgs } from "../../../schema/container";
import type { InputFailure } from "../../../schema/issues";
import type { Limits } from "../../../schema/limits";
import { sysctlPath } from "../../../schema/sysctl";
import { readPathTests, sharedTests, type PathTest } from "../../kernel/container/admission";
import { baseOf } from "../../kernel/container/rootfs";
import { kernelCapabilities } from "../../kernel/capabilities";
import { connectionKey } from "../../kernel/connection";
import { recursiveReadOnly } from "../../kernel/host-facts";
import { limitsAdmission } from "../limits";
import { claim, ownerConflict, recordedOwner } from "../ownership";
import type { Ctx } from "./context";
import { diskAdmission, diskRoomAdmission } from "./disk";
import { readOnlyBindFailures } from "./mounts";
import { netAdmission } from "./network";
import { procViewsAdmission } from "./proc";

// What check refuses on the container's host, each failure naming the input, the value and what was expected.

/** The existence test of a rootfs path (also the one a backup's layer lies on). */
function pathRootfsTest(r: ContainerArgs["rootfs"]): (PathTest & { property: string; missing: string })[] {
  const base = baseOf(r);
  if (!("path" in base)) return [];
  return [{ property: "backup" in r ? "rootfs.backup.rootfs.path" : "rootfs.path", path: base.path, kind: "exists" as const, missing: "no such path" }];
}

export async function admission(a: ContainerArgs, c: Ctx, previousName?: string, owner?: string, parentLimits?: Limits): Promise<InputFailure[]> {
  const failures = await limitsAdmission(a, c.h, parentLimits);
  failures.push(...(await ownerAdmission(a, c, owner)));
  if (a.security.userNamespace && !c.h.facts.userNamespaces) {
    failures.push({ property: "security.userNamespace", reason: `host ${c.t.target} has user namespaces disabled (user.max_user_namespaces is 0)` });
  }
  const checks: (PathTest & { property: string; missing: string; got?: string })[] = [
    ...pathRootfsTest(a.rootfs),
    ...("ociLayout" in a.rootfs
      ? [
          {
            property: "rootfs.ociLayout.path",
            path: a.rootfs.ociLayout.path,
            kind: "ociLayout" as const,
            missing: "no OCI image layout (its oci-layout file) at that path",
          },
        ]
      : []),
    ...a.mounts.flatMap((m, i) =>
      m.type === "bind" ? [{ property: `mounts.${i}.source`, path: m.source, kind: "exists" as const, missing: "no such path" }] : [],
    ),
    ...procViewsAdmission(a),
    // a namespaced sysctl is in the host's /proc/sys too (the kernel has it, whatever the namespace)
    ...Object.keys(a.sysctls).map((k) => ({ property: `sysctls.${k}`, path: sysctlPath(k), kind: "exists" as const, missing: "no such sysctl in the kernel" })),
  ];
  const tests = sharedTests(c.t, await c.snapshots.claims());
  if (checks.length) {
    (await readPathTests(tests, checks)).forEach((ok, i) => {
      if (!ok)
        failures.push({
          property: checks[i]!.property,
          reason: `got ${checks[i]!.got ?? JSON.stringify(checks[i]!.path)}; ${checks[i]!.missing} on host ${c.t.target}`,
        });
    });
  }
  const caps = [
    ...a.security.capAdd.map((cap, i) => ({ property: `security.capAdd.${i}`, cap })),
    ...a.security.capDrop.map((cap, i) => ({ property: `security.capDrop.${i}`, cap })),
  ];
  if (caps.length) {
    const known = await kernelCapabilities(c.t);
    for (const x of caps.filter((x) => !known.includes(x.cap))) {
      failures.push({
        property: x.property,
        reason: `got ${JSON.stringify(x.cap)}; not a capability the kernel of host ${c.t.target} knows (${known[0]} … ${known[known.length - 1]})`,
      });
    }
  }
  failures.push(...(await netAdmission(c.h.view, c.layout, a, await c.snapshots.claims(), previousName, owner)));
  failures.push(...(await readOnlyBindFailures(tests, a, recursiveReadOnly(c.h.facts, c.runtime.name))));
  const disk = await diskAdmission(c.t, c.bundle, a, (await c.snapshots.claims()).bundles.has(a.name));
  failures.push(...disk);
  if (!disk.length) failures.push(...(await diskRoomAdmission(c.t, c.layout, a, owner ?? `container ${a.name}`)));
  return failures;
}

/**
 * Ownership at check: a name declared twice in this program, or a container on the host that
 * another owner made (refused unless adopt: true), is refused before anything is created.
 */
async function ownerAdmission(a: ContainerArgs, c: Ctx, owner: string | undefined): Promise<InputFailure[]> {
  const failures: InputFailure[] = [];
  if (owner) {
    for (const other of claim(`container ${connectionKey(a.host.connection)}/${a.host.prefix}`, owner, a.name)) {
      failures.push({
        property: "name",
        reason: `got ${JSON.stringify(a.name)}, also the name of ${other} in this program; one host and prefix hold one container of a name`,
      });
    }
  }
  // from the host's snapshot: one read serves every container's check
  const meta = (await c.snapshots.claims()).records.get(a.name);
  const conflict = ownerConflict(`container ${a.name} under prefix ${a.host.prefix} on host ${c.t.target}`, recordedOwner(meta), owner, a.adopt);
  if (conflict) failures.push({ property: "name", reason: conflict });
  return failures;
}

/** One try of a create: decisions from the snapshot, then one script. */
