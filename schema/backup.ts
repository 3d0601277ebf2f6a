import { z } from "zod";
import { cgroupName, hostRef } from "./resource-limits";

export const backupArgs = z.strictObject({
  host: hostRef,
  /** The container's name on the host. */
  container: cgroupName,
  /** Directory on the container's host the backup files go to (made 0700 at the first backup): `<container>-<UTC time>.kbak`. */
  directory: z.string().regex(/^\/\S*$/, 'expected an absolute path like "/var/backups/kslice"'),
  /** Any value: a change takes a new backup at the next up. @default "" (one backup, when the resource is created) */
  trigger: z.union([z.string(), z.number()]).default(""),
  /** How many of this resource's backup files are kept, the newest; older ones are removed after a new backup. @default 3 */
  keep: z.number().int().min(1).max(1000).default(3),
});

export type BackupArgs = z.output<typeof backupArgs>;
