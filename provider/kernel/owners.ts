import { shellQuote as q } from "./shell";
import { SharedRead } from "./shared-read";
import type { Transport } from "../transport/transport";
import type { HostLayout } from "./container/layout";
import { syncScript } from "./durable";

/**
 * Owner records on a host. Bundles and networks keep their owner in their own record
 * (kslice.json, network.json); a budget (a cgroup) has no file of kslice's, so its record is
 * /var/lib/<prefix>/limits/<path>.json: xattrs on cgroupfs need the `xattr` mount option on v1
 * and user.* xattrs only exist on v2 from Linux 5.7, while a file works on every host, survives a
 * reboot and sits with the other host records.
 */
export const budgetRecord = (layout: HostLayout, path: string) => `${layout.stateDir}/limits/${path}.json`;

/**
 * Every budget record of a prefix in one read (the engine checks many budgets in a burst: one
 * command, not one per budget). Prints `<path>\t<record>` per record, path below the prefix.
 */
export function budgetRecordsScript(layout: HostLayout): string {
  const dir = q(`${layout.stateDir}/limits`);
  return `[ -d ${dir} ] || exit 0; cd ${dir} && find . -name '*.json' -type f | while IFS= read -r f; do p=\${f#./}; printf '%s\t%s\n' "\${p%.json}" "$(cat -- "$f" 2>/dev/null)"; done`;
}

export function parseBudgetRecords(out: string): Map<string, string> {
  return new Map(
    out
      .split("\n")
      .filter((l) => l.includes("\t"))
      .map((l) => [l.slice(0, l.indexOf("\t")), l.slice(l.indexOf("\t") + 1)]),
  );
}

/** Stacks using a prefix on a host: one file per stack, so that Host delete removes only its own setup. */
export const ownersDir = (layout: HostLayout) => `${layout.stateDir}/owners`;
export const stackFile = (layout: HostLayout, stack: string) => `${ownersDir(layout)}/${encodeURIComponent(stack)}`;

/**
 * Writes a record file by rename (a reader never sees half of it), making its directory; once more
 * if a parallel delete removed the emptied directory in between. On disk when the script ends (durable.ts).
 */
export function writeRecordScript(file: string, content: string): string {
  return `${writeRecordCommand(file, content)}\n${syncScript([file])}`;
}

/** writeRecordScript without its sync: for a script that writes several records and syncs them once. */
function writeRecordCommand(file: string, content: string): string {
  const dir = file.slice(0, file.lastIndexOf("/"));
  const write = `mkdir -p ${q(dir)} && printf '%s\\n' ${q(content)} > ${q(`${file}.new`)} && mv -f ${q(`${file}.new`)} ${q(file)}`;
  return `umask 022; { ${write} 2>/dev/null || ${write}; } || exit 1`;
}

/**
 * A Host's `draining`, recorded on the host so that what reads hosts (`kslice ps`, the dashboard)
 * can show it: one file per stack whose Host declares it (`{"owner": <the Host's URN>}`), since
 * stacks sharing a prefix each declare their own Host. No file: not draining.
 */
export const drainingDir = (layout: HostLayout) => `${layout.stateDir}/draining`;
export const drainingFile = (layout: HostLayout, stack: string) => `${drainingDir(layout)}/${encodeURIComponent(stack)}`;

/**
 * A Host's records for its stack, in one script synced once: its registration as a user of the
 * prefix, and its draining record written (draining) or removed (not).
 */
export function hostRecordsScript(layout: HostLayout, stack: string, owner: string, draining: boolean): string {
  const drain = drainingFile(layout, stack);
  return [
    writeRecordCommand(stackFile(layout, stack), owner),
    draining ? writeRecordCommand(drain, JSON.stringify({ owner })) : `rm -f ${q(drain)}; rmdir ${q(drainingDir(layout))} 2>/dev/null`,
    syncScript([stackFile(layout, stack), drain]),
  ].join("\n");
}

/** Removes a record file and the directories it leaves empty, up to (not including) `top`. */
export function removeRecordScript(file: string, top: string): string {
  const dirs: string[] = [];
  for (let d = file.slice(0, file.lastIndexOf("/")); d.length > top.length && d.startsWith(top); d = d.slice(0, d.lastIndexOf("/"))) dirs.push(d);
  return [`rm -f ${q(file)}`, ...dirs.map((d) => `rmdir ${q(d)} 2>/dev/null`), syncScript([file])].join("; ");
}

/**
 * What Host delete needs to know: the stacks registered on the prefix, and the owners recorded by
 * the containers and networks still there. Prints `stack <name>`, `container <name> <owner>`,
 * `network <name> <owner>` lines (owner "-" when none is recorded).
 */
export function prefixUsersScript(layout: HostLayout): string {
  const owner = `sed -n 's/.*"owner":"\\([^"]*\\)".*/\\1/p'`;
  return [
    `for f in ${q(ownersDir(layout))}/*; do [ -f "$f" ] && echo "stack \${f##*/}"; done`,
    `for d in ${q(layout.containers)}/*/; do [ -d "$d" ] || continue; n=\${d%/}; o=$(${owner} "$d/kslice.json" 2>/dev/null); echo "container \${n##*/} \${o:--}"; done`,
    `for d in ${q(layout.networks)}/*/; do [ -d "$d" ] || continue; n=\${d%/}; o=$(${owner} "$d/network.json" 2>/dev/null); echo "network \${n##*/} \${o:--}"; done`,
    "true",
  ].join("\n");
}

/**
 * The budget owner records of one prefix on one host (`limits/<path>.json`): every record in one
 * shared read for a burst of checks, and one record read, written or removed with its directories.
 * A write or a removal drops the shared read.
 */
export class BudgetRecords {
  private readonly shared: SharedRead<Map<string, string>>;

  constructor(
    private readonly t: Pick<Transport, "run" | "readFiles">,
    private readonly layout: HostLayout,
    windowMs: number,
  ) {
    this.shared = new SharedRead(t, budgetRecordsScript(layout), parseBudgetRecords, windowMs);
  }

  /** Every record of the prefix: path below the prefix → the record's text (shared by a burst). */
  all(): Promise<Map<string, string>> {
    return this.shared.get();
  }

  invalidate(): void {
    this.shared.invalidate();
  }

  /** One budget's record as it is on the host now (undefined when there is none). */
  async read(path: string): Promise<string | undefined> {
    const [record] = await this.t.readFiles([budgetRecord(this.layout, path)]);
    return record;
  }

  /** Writes one budget's record (by rename, on disk when it returns). */
  async write(path: string, content: string): Promise<void> {
    try {
      await this.t.run(["sh", "-c", writeRecordScript(budgetRecord(this.layout, path), content)]);
    } finally {
      this.invalidate();
    }
  }

  /** Removes one budget's record and the directories it leaves empty. */
  async remove(path: string): Promise<void> {
    try {
      await this.t.run(["sh", "-c", removeRecordScript(budgetRecord(this.layout, path), "/var/lib")]);
    } finally {
      this.invalidate();
    }
  }
}
