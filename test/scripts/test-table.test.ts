import { describe, expect, it } from "vitest";
import { cpuText, fileRows, readBoots, readCpu, readTiers, renderTable, tierRow } from "../../scripts/test-table";

const report = {
  numTotalTests: 5,
  numPassedTests: 4,
  numFailedTests: 1,
  numPendingTests: 1,
  numTodoTests: 0,
  testResults: [
    {
      name: "/repo/test/lab/a.lab.test.ts",
      startTime: 1_000,
      endTime: 61_000,
      status: "passed",
      assertionResults: [{ status: "passed" }, { status: "passed" }],
    },
    {
      name: "/repo/test/lab/b.lab.test.ts",
      startTime: 61_000,
      endTime: 241_000,
      status: "failed",
      assertionResults: [{ status: "failed" }, { status: "passed" }, { status: "pending" }],
    },
  ],
};

describe("the test time table", () => {
  it("reads tiers.tsv and the boot log, skipping a torn last line", () => {
    expect(readTiers("unit\t0\t2500\t0\nlab&\t100\t900100\t1\n")).toEqual([
      { tier: "unit", startMs: 0, endMs: 2500, status: 0 },
      { tier: "lab&", startMs: 100, endMs: 900100, status: 1 },
    ]);
    expect(readBoots('{"by":"shared","vms":2,"seconds":31.5,"accel":"tcg"}\n{"by":"te')).toEqual([{ by: "shared", vms: 2, seconds: 31.5, accel: "tcg" }]);
  });

  it("counts each tier's files and tests, and gives each lab file its time and boots", () => {
    const row = tierRow({ tier: "lab&", startMs: 0, endMs: 300_000, status: 1 }, report);
    expect(row).toEqual({ tier: "lab&", seconds: 300, status: 1, files: 2, passed: 4, failed: 1, skipped: 1 });
    expect(tierRow({ tier: "setup", startMs: 0, endMs: 5_000, status: 0 }, undefined)).toEqual({ tier: "setup", seconds: 5, status: 0 });
    const boots = [{ by: "test/lab/b.lab.test.ts", vms: 3, seconds: 40, accel: "tcg" }];
    const files = fileRows(report, boots, "/repo");
    expect(files.map((f) => [f.file, f.seconds, f.tests, f.boots.length])).toEqual([
      ["test/lab/a.lab.test.ts", 60, 2, 0],
      ["test/lab/b.lab.test.ts", 180, 3, 1],
    ]);
    const text = renderTable([row], files, [{ by: "shared", vms: 2, seconds: 30, accel: "tcg" }], 400);
    expect(text).toMatch(/^lab&\s+-\s+300 s\s+2\s+4\s+1\s+1\s+exit 1$/m);
    // a tier started late (the lab's late stream) shows when, after npm test began
    const late = tierRow({ tier: "lab-late&", startMs: 2_000_000, endMs: 2_900_000, status: 0 }, undefined, 20_000);
    expect(late).toEqual({ tier: "lab-late&", from: 1980, seconds: 900, status: 0 });
    expect(renderTable([late], [], [], 2900)).toMatch(/^lab-late&\s+1980 s\s+900 s\s+-\s+-\s+-\s+-\s+ok$/m);
    // slowest file first, its own boots named, a shared file says so
    expect(text.indexOf("b.lab.test.ts")).toBeLessThan(text.indexOf("a.lab.test.ts"));
    expect(text).toMatch(/^b\.lab\.test\.ts\s+180 s\s+3\s+3 VMs 40 s \(tcg\)\s+failed$/m);
    expect(text).toMatch(/^a\.lab\.test\.ts\s+60 s\s+2\s+shared$/m);
    expect(text).toContain("VM boots: 5 VMs in 2 boots, 70 s waiting on them");
    expect(text).toMatch(/^all\s+400 s/m);
    const withOthers = renderTable([row], files, [], 400, [{ by: "-", vms: 1, seconds: 20, accel: "tcg" }]);
    expect(withOthers).toMatch(/^\(started by tests themselves\)\s+1 VM 20 s \(tcg\)$/m);
    expect(withOthers).toContain("VM boots: 4 VMs in 2 boots, 60 s waiting on them");
    const restoring = renderTable(
      [row],
      files,
      [
        { by: "shared", vms: 2, seconds: 9, accel: "tcg", restored: 2 },
        { by: "shared", vms: 1, seconds: 64, accel: "tcg", saved: true },
      ],
      400,
    );
    expect(restoring).toMatch(/^\(shared guests, booted once\)\s+2 VMs 9 s \(tcg, restored\), guest saved 64 s \(tcg\)$/m);
    expect(restoring).toContain("VM boots: 6 VMs in 3 boots (2 VMs restored from saved guests), 113 s waiting on them");
  });

  it("tells how busy the cores were, over the run and before and after the host tiers ended", () => {
    const stat = (user: number, system: number, idle: number) => `cpu  ${user} 0 ${system} ${idle} 0 0 0 0 0 0`;
    const marks = readCpu(
      [
        `start\t1000\t${stat(100, 0, 100)}`,
        `host-tiers\t101000\t${stat(19100, 0, 1100)}`, // 100 s on 2 cores, 95% busy
        `torn\t102000\tcpu 1 2`,
        `end\t201000\t${stat(29100, 0, 11100)}`, // 100 s more, 50% busy
      ].join("\n"),
    );
    expect(marks.map((m) => m.label)).toEqual(["start", "host-tiers", "end"]);
    const text = cpuText(marks, 2);
    expect(text).toBe("CPU: 2 cores 73% busy (290 of 400 core-seconds); 95% until the host tiers ended (100 s), 50% after");
    expect(renderTable([], [], [], 200, [], text)).toContain(text);
    // a run that ended before the host tiers did, or with nothing recorded
    expect(cpuText([marks[0]!, marks[2]!], 2)).toBe("CPU: 2 cores 73% busy (290 of 400 core-seconds)");
    expect(cpuText([], 2)).toBeUndefined();
  });
});
