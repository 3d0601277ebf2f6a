import type { z } from "zod";
import { parseInput } from "../../schema/issues";
import type { Props } from "./provider-types";

/**
 * A kind's inputs, from its schema alone: a field added to the schema is an input of every
 * operation at once. The engine's props hold more than the declaration: outputs, and inputs kept
 * in state but never diffed (`kept`: `owner` where the resource records who made it, see
 * ownership.ts; a Container's `diskFrom`).
 */
export function kindInputs<S extends z.ZodObject>(schema: S, options: { kept?: readonly string[] } = {}) {
  const kept = options.kept ?? [];
  const keys: readonly string[] = [...Object.keys(schema.shape), ...kept];
  /** The inputs among props (inputs or outputs). */
  const pickInputs = (props: Props): Props => Object.fromEntries(keys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
  /** The declaration: the inputs without those kept. */
  const declared = (props: Props): Props => Object.fromEntries(Object.entries(pickInputs(props)).filter(([k]) => !kept.includes(k)));
  /** The declaration parsed; props a check passed are valid, so a failure here is a bug, thrown with every issue. */
  const parse = (props: Props): z.output<S> => {
    const r = parseInput(schema, declared(props));
    if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
    return r.value;
  };
  return { keys, pickInputs, declared, parse };
}
