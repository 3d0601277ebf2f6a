import { writeFileSync } from "node:fs";

/**
 * Test hook for crash recovery: with KSLICE_TEST_PAUSE_AT=<step> a create stops at that named
 * step for good, after writing the step's name to KSLICE_TEST_PAUSE_FILE (if set), so that a test
 * can SIGKILL the provider exactly there. Without the variable it costs nothing.
 */
export async function pauseAt(step: string): Promise<void> {
  if (process.env.KSLICE_TEST_PAUSE_AT !== step) return;
  const file = process.env.KSLICE_TEST_PAUSE_FILE;
  if (file) writeFileSync(file, step);
  // a pending promise alone would let node exit: a timer keeps the process alive until it is killed
  await new Promise<never>(() => setInterval(() => undefined, 60_000));
}
