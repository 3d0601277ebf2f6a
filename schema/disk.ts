import { z } from "zod";
import { size } from "./units";

/** The smallest disk limit: an ext4 image below it holds little beyond its own journal and tables. */
export const diskMin = 16 * 2 ** 20;

export const disk = z
  .strictObject({
    /** Bytes the writable layer may hold, e.g. "512Mi" (at least "16Mi"); writes past it fail with ENOSPC. */
    max: size,
    /** Files and directories it may hold (ext4's inode count, at most one per 4 KiB of max). @default mkfs.ext4's (one per 16 KiB) */
    inodes: z.number().int().positive().optional(),
  })
  .superRefine((d, ctx) => {
    if (d.max < diskMin) {
      ctx.addIssue({
        code: "custom",
        path: ["max"],
        message: `got ${d.max} bytes; expected at least "16Mi" (${diskMin} bytes), the smallest image kslice formats`,
      });
    }
    if (d.inodes !== undefined && d.inodes > Math.floor(d.max / 4096)) {
      ctx.addIssue({
        code: "custom",
        path: ["inodes"],
        message: `got ${d.inodes}; expected at most ${Math.floor(d.max / 4096)} for max ${d.max} bytes (one inode per 4 KiB block)`,
      });
    }
  });

export type Disk = z.output<typeof disk>;
