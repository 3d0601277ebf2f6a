import { writeFileSync } from "node:fs";

/**
 * Test hook for crash recovery: with KSLICE_TEST_PAUSE_AT=<point> an operation stops at that named
 * point for good, after writing the point's name to KSLICE_TEST_PAUSE_FILE (if set; a path on the
 * host, so local hosts only), so that a test can SIGKILL the provider (or the CLI, whose provider
 * then exits) exactly there. A create's script pauses at bundle, mount, spec or start (the script
 * then exits without undoing anything, as if killed with it); a migration at copy (the target's
 * unpack script, its layer unpacked and not reported) or migrated (in the provider, the move done
 * and the source removed, before the engine hears of it). Without the variable nothing pauses.
 */
export function pauseHook(): { at: string; file?: string } | undefined {
  const at = process.env.KSLICE_TEST_PAUSE_AT;
  return at ? { at, file: process.env.KSLICE_TEST_PAUSE_FILE } : undefined;
}

/** A pause point in the provider itself: never resolves when the hook names `point`. */
export async function pauseAt(point: string): Promise<void> {
  const hook = pauseHook();
  if (hook?.at !== point) return;
  if (hook.file) writeFileSync(hook.file, point);
  await new Promise<never>(() => undefined);
}
