/**
 * Test hook for crash recovery: with KSLICE_TEST_PAUSE_AT=<step> (bundle, mount, spec, start) a
 * create's script stops at that named step for good, after writing the step's name to
 * KSLICE_TEST_PAUSE_FILE (if set; a path on the host, so local hosts only), so that a test can
 * SIGKILL the provider exactly there (the script then exits without undoing anything, as if killed
 * with it). Without the variable the script holds no pause at all.
 */
export function pauseHook(): { at: string; file?: string } | undefined {
  const at = process.env.KSLICE_TEST_PAUSE_AT;
  return at ? { at, file: process.env.KSLICE_TEST_PAUSE_FILE } : undefined;
}
