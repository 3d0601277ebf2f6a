import { defineConfig } from "vitest/config";

// Tiers are told apart by file suffix so that tests can mirror the source tree one to one:
//   *.test.ts         unit    pure logic, no root, no kernel
//   *.kernel.test.ts  kernel  root, real cgroups and runtime on this host
//   *.e2e.test.ts     e2e     the real Pulumi CLI and engine
//   *.lab.test.ts     lab     real cgroup v2 hosts booted under QEMU, reached over SSH
const tiers = ["kernel", "e2e", "lab"];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: tiers.map((t) => `test/**/*.${t}.test.ts`),
        },
      },
      ...tiers.map((name) => ({
        test: {
          name,
          include: [`test/**/*.${name}.test.ts`],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // kernel objects and VMs are shared per host: run files one at a time
          fileParallelism: false,
          // the lab's guests are booted once for the tier and shared by its files (test/lab/pool.ts)
          ...(name === "lab" ? { globalSetup: ["test/lab/pool.ts"] } : {}),
        },
      })),
    ],
  },
});
