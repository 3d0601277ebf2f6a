import type { BaseRootfs, Rootfs } from "../../../schema/container";
import type { InputFailure } from "../../../schema/issues";
import { readBackup } from "../../kernel/container/backup";
import { backupBase } from "../../kernel/container/rootfs";
import type { Transport } from "../../transport/transport";

/**
 * Check of a Container made from a backup (`rootfs: { backup: { file } }`): the file is read on
 * the container's host and every member's sha256 checked, so a corrupt or truncated backup is
 * refused at preview, naming the file, before anything is created. What the layer lies on is
 * filled from the backup's record unless declared. A container that already exists from the same
 * file keeps what its check filled then: the file may be gone since (rotated backups).
 */
export async function backupAdmission(
  t: Pick<Transport, "run" | "target">,
  rootfs: Rootfs,
  old: unknown,
): Promise<{ failures: InputFailure[]; rootfs?: Rootfs }> {
  if (!("backup" in rootfs)) return { failures: [] };
  const prev = (old as { backup?: { file?: unknown; rootfs?: unknown } } | undefined)?.backup;
  if (prev?.file === rootfs.backup.file && prev.rootfs && !rootfs.backup.rootfs) {
    return { failures: [], rootfs: { backup: { ...rootfs.backup, rootfs: prev.rootfs as BaseRootfs } } };
  }
  try {
    const info = await readBackup(t, rootfs.backup.file);
    const base = rootfs.backup.rootfs ?? backupBase(info.record);
    if (!base) {
      return {
        failures: [
          {
            property: "rootfs.backup.rootfs",
            reason: `backup ${rootfs.backup.file} does not say what its layer lay on (lower ${info.record.lower}); declare it, e.g. { debootstrap: { suite: "bookworm" } }`,
          },
        ],
      };
    }
    return { failures: [], rootfs: { backup: { file: rootfs.backup.file, rootfs: base } } };
  } catch (e) {
    return { failures: [{ property: "rootfs.backup.file", reason: (e as Error).message }] };
  }
}
