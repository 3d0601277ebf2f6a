// A provider process of its own for crash tests: checks and creates one container through the real
// lifecycle, with the inputs given as JSON in argv[2]. The test sets KSLICE_TEST_PAUSE_AT (see
// provider/reconcile/test-hooks.ts) and SIGKILLs this process where the create pauses.
import { containerLifecycle as L } from "../../provider/reconcile/container";

async function main(): Promise<void> {
  const inputs = JSON.parse(process.argv[2]!) as Record<string, unknown>;
  const checked = await L.check({}, inputs);
  if (checked.failures) throw new Error(JSON.stringify(checked.failures));
  const r = await L.create(checked.inputs!);
  process.stdout.write(`${JSON.stringify(r.outs)}\n`);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
