/** Where kslice keeps things on a host (ARCHITECTURE.md, "Where kslice keeps things on a host"), for one prefix. */
export function hostLayout(prefix: string) {
  const state = `/var/lib/${prefix}`;
  return {
    /** runc/crun --root */
    runtimeRoot: `/run/${prefix}/runtime`,
    runDir: `/run/${prefix}`,
    stateDir: state,
    templates: `${state}/templates`,
    containers: `${state}/containers`,
    bundle: (name: string) => `${state}/containers/${name}`,
    networks: `${state}/networks`,
    network: (name: string) => `${state}/networks/${name}`,
    /** Published ports claimed by each container: one file per container. */
    ports: `${state}/ports`,
    /** User-namespace ranges claimed by this prefix's containers: one file per range index (uid-ranges.ts). */
    uidRanges: `${state}/uid-ranges`,
  };
}

export type HostLayout = ReturnType<typeof hostLayout>;
