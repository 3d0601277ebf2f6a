// A ResourceLimits' disk budget (its children's declared disk.max together within it) and a new
// image's room on the host (free space less the other images' unwritten part): the decisions,
// without a host.
import { beforeEach, describe, expect, it } from "vitest";
import { budgetShortfall, declaredParentDisk, diskBudgetAdmission, recordedDisk } from "../../../provider/reconcile/disk-budget";
import { diskRoomShortfall } from "../../../provider/reconcile/container/disk";
import { withHostDefaults } from "../../../provider/reconcile/container";
import { forgetClaims } from "../../../provider/reconcile/ownership";
import { containerArgs } from "../../../schema/container";

const Gi = 2 ** 30;
const host = { connection: { type: "local" as const }, prefix: "kslice" };

describe("a disk budget", () => {
  beforeEach(() => forgetClaims());

  it("admits children whose declared disk.max fit together, and names each child, the sum and the budget when they do not", () => {
    expect(diskBudgetAdmission(host, "tenant-a", 10 * Gi, { key: "a", label: "container a", bytes: 6 * Gi })).toEqual([]);
    expect(diskBudgetAdmission(host, "tenant-a", 10 * Gi, { key: "b", label: "container b", bytes: 3 * Gi })).toEqual([]);
    const over = diskBudgetAdmission(host, "tenant-a", 10 * Gi, { key: "c", label: "ResourceLimits tenant-a/team", bytes: 2 * Gi });
    expect(over).toEqual([
      {
        property: "disk.max",
        reason:
          "got 2Gi; the children of tenant-a declared in this program need 11Gi together (container a 6Gi, container b 3Gi, ResourceLimits tenant-a/team 2Gi), above the disk budget of tenant-a (disk.max 10Gi) by 1Gi",
      },
    ]);
    // a re-check of the same child with another value replaces its share
    expect(diskBudgetAdmission(host, "tenant-a", 10 * Gi, { key: "c", label: "ResourceLimits tenant-a/team", bytes: Gi })).toEqual([]);
    // another parent, or the same name under another prefix, is another budget
    expect(diskBudgetAdmission(host, "tenant-b", 1 * Gi, { key: "d", label: "container d", bytes: Gi })).toEqual([]);
    expect(diskBudgetAdmission({ ...host, prefix: "other" }, "tenant-a", 10 * Gi, { key: "e", label: "container e", bytes: 9 * Gi })).toEqual([]);
  });

  it("refuses a child without a disk limit under a budget, naming it and the budget", () => {
    expect(budgetShortfall("tenant-a", 10 * Gi, { label: "container web", bytes: undefined }, [])).toEqual([
      {
        property: "disk",
        reason:
          "container web declares no disk.max, but it is placed under the disk budget of tenant-a (disk.max 10Gi): a child without a limit could fill the host past the budget; declare disk.max",
      },
    ]);
  });

  it("asks nothing of children of a parent without a disk budget, or without a parent", () => {
    expect(diskBudgetAdmission(host, "tenant-a", undefined, { key: "a", label: "container a", bytes: undefined })).toEqual([]);
    expect(diskBudgetAdmission(host, undefined, 10 * Gi, { key: "a", label: "container a", bytes: undefined })).toEqual([]);
  });

  it("reads the parent's budget as declared, or from its record on the host", () => {
    expect(declaredParentDisk({ max: "10Gi" })).toBe(10 * Gi);
    expect(declaredParentDisk(null)).toBeUndefined();
    expect(declaredParentDisk({ max: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" })).toBeUndefined();
    expect(recordedDisk(JSON.stringify({ owner: "urn", disk: 5 * Gi }))).toBe(5 * Gi);
    expect(recordedDisk(JSON.stringify({ owner: "urn" }))).toBeUndefined();
    expect(recordedDisk("{broken")).toBeUndefined();
  });
});

describe("a disk image's room on the host", () => {
  const web = (max: string) => containerArgs.parse({ host, name: "web", command: ["sleep", "1"], disk: { max } });
  const room = (avail: number, images: [string, number, number][] = []) => ({
    dir: "/var/lib",
    avail,
    images: new Map(images.map(([n, size, allocated]) => [n, { size, allocated }])),
  });

  it("refuses a disk.max above the free space, naming the host, the directory, the free and needed bytes", () => {
    const r = diskRoomShortfall(web("50Gi"), "edge-1", "/var/lib/kslice", room(12.3 * Gi), 0);
    expect(r).toEqual([
      {
        property: "disk.max",
        reason:
          "got 50Gi; host edge-1 has 12.3 GiB free under /var/lib/kslice (its filesystem, measured at /var/lib), and the image needs 50.0 GiB: 37.7 GiB short",
      },
    ]);
    expect(diskRoomShortfall(web("10Gi"), "edge-1", "/var/lib/kslice", room(12.3 * Gi), 0)).toEqual([]);
  });

  it("counts the other images' unwritten part and the program's other new images as taken", () => {
    // 20 GiB free, a neighbour's 16 GiB image holds 4 GiB: 8 GiB left for a new one
    const r = diskRoomShortfall(web("10Gi"), "edge-1", "/var/lib", room(20 * Gi, [["db", 16 * Gi, 4 * Gi]]), 0);
    expect(r[0]?.reason).toBe(
      "got 10Gi; host edge-1 has 20.0 GiB free under /var/lib (12.0 GiB of it promised to the unwritten part of the prefix's other disk images: 8.0 GiB left), and the image needs 10.0 GiB: 2.0 GiB short",
    );
    expect(diskRoomShortfall(web("8Gi"), "edge-1", "/var/lib", room(20 * Gi, [["db", 16 * Gi, 4 * Gi]]), 0)).toEqual([]);
    expect(diskRoomShortfall(web("8Gi"), "edge-1", "/var/lib", room(20 * Gi, [["db", 16 * Gi, 4 * Gi]]), Gi)[0]?.reason).toMatch(
      /1.0 GiB to the other new disk images of this program there: 7.0 GiB left\), and the image needs 8.0 GiB: 1.0 GiB short$/,
    );
  });

  it("asks nothing new of an image that keeps its size, and a grown one only its unwritten part", () => {
    expect(diskRoomShortfall(web("50Gi"), "edge-1", "/var/lib", room(1 * Gi, [["web", 50 * Gi, 10 * Gi]]), 0)).toEqual([]);
    // grown to 60 GiB with 10 GiB written: needs 50 GiB
    expect(diskRoomShortfall(web("60Gi"), "edge-1", "/var/lib", room(50 * Gi, [["web", 50 * Gi, 10 * Gi]]), 0)).toEqual([]);
    expect(diskRoomShortfall(web("60Gi"), "edge-1", "/var/lib", room(49 * Gi, [["web", 50 * Gi, 10 * Gi]]), 0)).toHaveLength(1);
  });
});

describe("the Host's default disk", () => {
  const news = { host, name: "web", command: ["sleep", "1"] };
  const defaults = { disk: { max: "64Mi" } };

  it("is taken by a new container that declares no disk, and followed while it came from there", () => {
    expect(withHostDefaults({}, news, defaults)).toEqual({ ...news, disk: { max: "64Mi" }, diskFrom: "host" });
    const olds = { ...news, disk: { max: "64Mi" }, diskFrom: "host" };
    expect(withHostDefaults(olds, news, { disk: { max: "128Mi" } })).toEqual({ ...news, disk: { max: "128Mi" }, diskFrom: "host" });
    // the default removed: the last one stays (removing a disk would replace the container)
    expect(withHostDefaults(olds, news, null)).toEqual({ ...news, disk: { max: "64Mi" }, diskFrom: "host" });
  });

  it("is not taken by a container that declares its own disk, nor by one made before the default", () => {
    expect(withHostDefaults({}, { ...news, disk: { max: "1Gi" } }, defaults)).toEqual({ ...news, disk: { max: "1Gi" } });
    expect(withHostDefaults({ ...news }, news, defaults)).toEqual(news);
    // an invalid or unknown default is the Host's check's to refuse
    expect(withHostDefaults({}, news, { disk: { max: "lots" } })).toEqual(news);
    expect(withHostDefaults({}, news, { disk: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" })).toEqual(news);
  });
});
