// A provider-like process for the SSH cleanup test: opens an SSH transport (connection as JSON in
// argv[2]), runs one command, prints its temp dir, then waits to be killed (as the engine kills a
// dynamic provider: no exit handler runs).
import { SshTransport } from "../../provider/transport/ssh";

async function main(): Promise<void> {
  const t = new SshTransport(JSON.parse(process.argv[2]!));
  await t.run(["true"]);
  process.stdout.write(`${(t as unknown as { dir: string }).dir}\n`);
  setInterval(() => undefined, 60_000);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
