import { shellQuote as q, type Transport } from "../../transport/transport";
import type { HostLayout } from "./layout";

/**
 * User-namespace ranges: 65536 uids and gids per container, index i maps the container's 0..65535
 * to the host's 2^20 + i·65536 onwards (below 2^20: the host's own users). Claimed on the host,
 * one file per range under the prefix's state dir (uid-ranges/<index> holding the container's
 * name), and chosen under a host-wide lock against every prefix's claims: no two containers of
 * any prefix share a range, and a container keeps its range while it exists, stopped or not.
 */
export const rangeSize = 65536;
const firstBase = 2 ** 20;
/** The last index whose range ends below 2^32 - 1 (uid -1 is "no uid"). */
export const maxRangeIndex = Math.floor((2 ** 32 - 2 - (rangeSize - 1) - firstBase) / rangeSize);

export const rangeBase = (index: number): number => firstBase + index * rangeSize;

/** The index of a base (the hashed bases of kslice before allocation are of the same form). */
export function rangeIndex(base: number): number | undefined {
  const i = (base - firstBase) / rangeSize;
  return Number.isInteger(i) && i >= 0 && i <= maxRangeIndex ? i : undefined;
}

/**
 * The base kslice gave a user-namespaced container before ranges were allocated: a 12-bit hash of
 * its name. Only to take such an existing container's range over as its claim.
 */
export function legacyBase(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return rangeBase(h % 4096);
}

/**
 * The ranges to try, in order: `preferred` (an existing container keeps its ids) if free, then the
 * lowest free indexes. Several, so that creates racing on one stale view of the claims each get one
 * of them in a single trip to the host (the script takes the first still free under the lock).
 */
export function chooseRanges(taken: Iterable<number>, preferred?: number, count = 64): number[] {
  const used = new Set(taken);
  const out = preferred !== undefined && !used.has(preferred) ? [preferred] : [];
  for (let i = 0; i <= maxRangeIndex && out.length < count; i++) if (!used.has(i) && i !== preferred) out.push(i);
  return out;
}

/** Every prefix's claims: a glob over /var/lib/<prefix>/uid-ranges (no global file is left behind). */
const allClaims = "/var/lib/*/uid-ranges";

/**
 * Claims for `container` the first of `candidates` that no container of any prefix holds, under the
 * host-wide lock (flock on /var/lib itself). Idempotent: a container that holds a range already
 * gets it back. Prints "claimed <index>", or "taken" and then every claimed index on the host when
 * all candidates were taken meanwhile (the caller chooses again from that list).
 */
export function claimRangeScript(layout: HostLayout, container: string, candidates: number[]): string {
  return [
    `c=${q(container)}; d=${q(layout.uidRanges)}`,
    `exec 9</var/lib; flock -w 60 9 || { echo "timed out waiting for the lock of /var/lib (user-namespace ranges)" >&2; exit 1; }`,
    `mkdir -p "$d" || exit 1`,
    `mine=$(grep -lxF -- "$c" "$d"/* 2>/dev/null | head -n 1)`,
    `[ -n "$mine" ] && { echo "claimed \${mine##*/}"; exit 0; }`,
    `for i in ${candidates.map((i) => String(Math.trunc(i))).join(" ")}; do`,
    `  set -- ${allClaims}/$i; [ -e "$1" ] && continue`,
    // on disk before it is reported (durable.ts): the claim, its name, and the dirs made for it
    `  echo "$c" > "$d/$i" && sync -- "$d/$i" "$d" ${q(layout.stateDir)} /var/lib || exit 1; echo "claimed $i"; exit 0`,
    `done`,
    `echo taken; for g in ${allClaims}/*; do [ -e "$g" ] && echo "\${g##*/}"; done; exit 0`,
  ].join("\n");
}

export type ClaimResult = { index: number } | { taken: number[] };

export function parseClaim(out: string): ClaimResult {
  const lines = out.trim().split("\n");
  const m = /^claimed (\d+)$/.exec(lines[0] ?? "");
  if (m) return { index: Number(m[1]) };
  if (lines[0] === "taken")
    return {
      taken: lines
        .slice(1)
        .map(Number)
        .filter((n) => Number.isInteger(n)),
    };
  throw new Error(`unexpected answer of the range claim: ${JSON.stringify(out)}`);
}

/** Runs claimRangeScript: the index claimed, or every index taken meanwhile (one command). */
export async function claimRange(t: Pick<Transport, "run">, layout: HostLayout, container: string, candidates: number[]): Promise<ClaimResult> {
  return parseClaim((await t.run(["sh", "-c", claimRangeScript(layout, container, candidates)])).stdout);
}

/** Gives a container's range back (delete). */
export function releaseRangeScript(layout: HostLayout, container: string): string {
  const d = q(layout.uidRanges);
  // under the lock: the rmdir of an empty dir must not race a claim that just made it
  return [
    `[ -d ${d} ] || exit 0`,
    `exec 9</var/lib; flock -w 60 9 || { echo "timed out waiting for the lock of /var/lib (user-namespace ranges)" >&2; exit 1; }`,
    `grep -lxF -- ${q(container)} ${d}/* 2>/dev/null | xargs -r rm -f`,
    `rmdir ${d} 2>/dev/null; exit 0`,
  ].join("\n");
}

/** Gives the container's range back (delete, or a create that failed): one command. */
export async function releaseRange(t: Pick<Transport, "run">, layout: HostLayout, container: string): Promise<void> {
  await t.run(["sh", "-c", releaseRangeScript(layout, container)]);
}

/** Snapshot part: every prefix's claimed indexes, after this prefix's claims ("<dir>/<index>:<name>", snapshot.ts). */
export function takenRangesScript(): string {
  return [`echo @@alluids`, `for g in ${allClaims}/*; do [ -e "$g" ] && echo "\${g##*/}"; done`].join("; ");
}

export function parseRangesSnapshot(out: string): { ranges: Map<string, number>; takenRanges: number[] } {
  const [own = "", all = ""] = out.split("@@alluids\n");
  const ranges = new Map<string, number>();
  for (const line of own.split("\n").filter(Boolean)) {
    const m = /\/(\d+):(.+)$/.exec(line);
    if (m) ranges.set(m[2]!, Number(m[1]));
  }
  return {
    ranges,
    takenRanges: all
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .filter((n) => Number.isInteger(n)),
  };
}

/**
 * Claims exactly `index` for a container (its uids are already in the config the same script
 * writes), under the host-wide lock: exit status 75 when any prefix holds it meanwhile (read the
 * claims again and choose again). A range the container already holds is kept.
 */
export function claimOneRangeScript(layout: HostLayout, container: string, index: number): string {
  const i = String(Math.trunc(index));
  return [
    `c=${q(container)}; d=${q(layout.uidRanges)}`,
    `exec 9</var/lib; flock -w 60 9 || { echo "timed out waiting for the lock of /var/lib (user-namespace ranges)" >&2; exit 1; }`,
    `mkdir -p "$d" || exit 1`,
    `[ "$(cat "$d/${i}" 2>/dev/null)" = "$c" ] && exit 0`,
    `set -- ${allClaims}/${i}; [ -e "$1" ] && { echo "user-namespace range ${i} was claimed meanwhile" >&2; exit 75; }`,
    `(set -C; echo "$c" > "$d/${i}") || exit 75`,
  ].join("\n");
}
