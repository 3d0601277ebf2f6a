import type { ContainerArgs } from "../../../schema/container";
import type { InputFailure } from "../../../schema/issues";
import { readSubmounts } from "../../kernel/container/admission";
import type { Transport } from "../../transport/transport";

/**
 * Where the runtime cannot make a read-only bind recursive ("rro"), plain "ro" leaves the source's
 * submounts writable inside the container: such a bind is refused at check, naming the input.
 */
export async function readOnlyBindFailures(t: Pick<Transport, "run" | "target">, a: ContainerArgs, recursive: boolean): Promise<InputFailure[]> {
  if (recursive) return [];
  const binds = a.mounts.flatMap((m, i) => (m.type === "bind" && m.readOnly ? [{ i, source: m.source }] : []));
  if (!binds.length) return [];
  const out = await readSubmounts(
    t,
    binds.map((b) => b.source),
  );
  return binds.flatMap((b, k) => {
    const sub = out[k];
    return sub
      ? [
          {
            property: `mounts.${b.i}.source`,
            reason: `got ${JSON.stringify(b.source)}, which has a mount below it (${sub}); the host's runtime cannot make a read-only bind recursive ("rro"), so that mount would stay writable. Expected a source without submounts, or readOnly: false`,
          },
        ]
      : [];
  });
}
