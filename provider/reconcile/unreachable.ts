import { isHostUnreachable } from "../kernel/connection";
import type { InputFailure } from "../../schema/issues";
import { warn } from "../log";

/**
 * At check, a host that does not answer is not bad input: the engine stops the whole update at a
 * failed check, while a failed create or update stops only that resource (and, with
 * --continue-on-error, lets the rest go on). So an unreachable host is a warning at check, and its
 * resources fail at their own step, naming it. Anything else the host said is a failure here.
 */
export function unreachableAtCheck(e: unknown, property = "host"): InputFailure[] {
  if (!isHostUnreachable(e)) return [{ property, reason: (e as Error).message }];
  warn(`${String((e as Error).message).split("\n")[0]}; the resources on this host fail at up`);
  return [];
}
