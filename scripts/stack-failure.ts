/**
 * What the runner prints when the CLI fails. The Automation API's error carries the CLI's whole
 * stdout (the engine's display, already streamed to the user) in its stderr and again in its
 * message: printed as is, every diagnostic showed three times. Only what was not streamed stays.
 */
export function failureMessage(e: unknown, op: string, streamed: string): string {
  const r = (e as { commandResult?: { code: number; stderr: string } }).commandResult;
  if (!r) return e instanceof Error ? e.message : String(e);
  let rest = r.stderr.replace(/^Command failed with exit code \d+: .*\n?/, "");
  const shown = streamed.trim();
  if (shown) rest = rest.split(shown).join("");
  rest = rest.trim();
  return `pulumi ${op} failed (exit code ${r.code})${rest ? `:\n${rest}` : "; the engine's output above says why"}`;
}
