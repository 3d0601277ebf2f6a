import { kindInputs, lifecycle, type State, type TypedLifecycle } from "./kind";
import { backupKind } from "./kinds";
import { backupArgs, type BackupArgs } from "../../schema/backup";
import { parseInput } from "../../schema/issues";
import { ensureBackupDir, presentFiles, readBackupRoom, removeFiles, takeBackup, type BackupResult } from "../kernel/container/backup";
import { hostLayout } from "../kernel/container/layout";
import { connectionKey } from "../kernel/connection";
import { chooseRuntime } from "../kernel/host-facts";
import { hostContext } from "./host-context";
import type { LifecycleImpl } from "./provider-types";
import { containsUnknown } from "./unknown";
import { unreachableAtCheck } from "./unreachable";

/**
 * A Backup resource: backup files of one container in a directory on its host
 * (kernel/container/backup.ts). Its create takes one; a new `trigger` takes another; after each,
 * only the newest `keep` of the files this resource made stay. Its delete leaves the files: a
 * backup is meant to outlive what it copies.
 */
const { pickInputs, parse } = kindInputs(backupKind);
type Backup = typeof backupKind;

async function context(a: BackupArgs) {
  const h = await hostContext(a.host);
  const chosen = chooseRuntime(h.facts, a.host.runtime ?? "auto");
  if ("error" in chosen) throw new Error(`${h.t.target}: ${chosen.error}`);
  return { t: h.t, layout: hostLayout(a.host.prefix), runtime: chosen.runtime.name };
}

/** A new backup is taken at create and when the trigger changes. */
const takesBackup = (olds: Partial<State<Backup>>, a: BackupArgs) =>
  olds.file === undefined || JSON.stringify(olds.trigger ?? "") !== JSON.stringify(a.trigger);

/** File name: the container and the provider's UTC time to the millisecond (sorts by age). */
const fileFor = (a: BackupArgs) => `${a.directory.replace(/\/+$/, "")}/${a.container}-${new Date().toISOString().replace(/[-:]/g, "").replace(".", "")}.kbak`;

async function take(a: BackupArgs, kept: string[]): Promise<State<Backup>> {
  const c = await context(a);
  await ensureBackupDir(c.t, a.directory);
  const r: BackupResult = await takeBackup(c.t, c.layout, c.runtime, a.host.prefix, a.container, fileFor(a)).catch((e: Error) => {
    throw new Error(`${c.t.target}: ${e.message}`, { cause: e });
  });
  const files = [...kept, r.file];
  const drop = files.slice(0, Math.max(0, files.length - a.keep));
  await removeFiles(c.t, drop);
  return outputs(a, files.slice(drop.length), r);
}

function outputs(
  a: BackupArgs,
  files: string[],
  last: { file: string; sha256: string; bytes: number; manifest: { created: string; frozenMs: number } },
): State<Backup> {
  return { ...a, files, file: last.file, sha256: last.sha256, bytes: last.bytes, created: last.manifest.created, frozenMs: last.manifest.frozenMs };
}

const typed: TypedLifecycle<Backup> = {
  async check(olds, news) {
    const inputs = pickInputs(news);
    if (containsUnknown(inputs)) return { inputs };
    const r = parseInput(backupArgs, inputs);
    if (!r.ok) return { failures: r.failures };
    // room, at preview, for a backup this up will take (a container not made yet is measured when it is)
    if (takesBackup(olds, r.value)) {
      try {
        const c = await context(r.value);
        const room = await readBackupRoom(c.t, c.layout, r.value.container, r.value.directory);
        if (room && room.avail < room.need) {
          return {
            failures: [
              {
                property: "directory",
                reason: `no room on host ${c.t.target} in ${r.value.directory}: ${room.avail} bytes free, the writable layer of container ${r.value.container} holds ${room.need} (uncompressed), short by ${room.need - room.avail}`,
              },
            ],
          };
        }
      } catch (e) {
        const failures = unreachableAtCheck(e);
        if (failures.length) return { failures };
      }
    }
    return { inputs: { ...inputs, host: r.value.host } };
  },

  async diff(_id, olds, news) {
    if (containsUnknown(pickInputs(news))) return { changes: true };
    const o = parse(olds);
    const a = parse(news);
    if (connectionKey(o.host.connection) !== connectionKey(a.host.connection) || o.host.prefix !== a.host.prefix || o.container !== a.container) {
      return {
        changes: true,
        replaces: backupKind.replaces.filter((k) => JSON.stringify(o[k]) !== JSON.stringify(a[k])),
      };
    }
    // the last file gone (read found it missing): the update takes a new one
    return { changes: olds.file === undefined || JSON.stringify(o) !== JSON.stringify(a) };
  },

  async create(inputs) {
    const a = parse(inputs);
    return { id: `${connectionKey(a.host.connection)}/${a.host.prefix}/backup/${a.container}/${a.directory}`, outs: await take(a, []) };
  },

  async read(id, props) {
    const a = parse(props);
    const c = await context(a);
    const files = await presentFiles(c.t, props.files ?? []);
    // the last file gone: what it said is gone with it, and the next up takes a new one
    const last =
      props.file !== undefined && files.includes(props.file)
        ? {}
        : { file: undefined, sha256: undefined, bytes: undefined, created: undefined, frozenMs: undefined };
    return { id, props: { ...props, files, ...last } };
  },

  async update(_id, olds, news) {
    const a = parse(news);
    const kept = olds.files ?? [];
    if (takesBackup(olds, a)) return { outs: await take(a, kept) };
    // keep or directory changed: only the rotation
    const c = await context(a);
    const drop = kept.slice(0, Math.max(0, kept.length - a.keep));
    await removeFiles(c.t, drop);
    return { outs: { ...olds, ...a, files: kept.slice(drop.length) } };
  },

  async delete() {
    // the files stay (see above)
  },
};

export const backupLifecycle: LifecycleImpl = lifecycle(backupKind, typed);
