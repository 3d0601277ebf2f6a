import type { z } from "zod";
import { parseInput } from "../../schema/issues";
import type { Props } from "./provider-types";

/**
 * A kind's inputs, from its schema alone: a field added to the schema is an input of every
 * operation at once. The engine's props hold more than the declaration (outputs, and `owner`
 * where the resource records who made it: kept in state, never diffed, see ownership.ts).
 */
export function kindInputs<S extends z.ZodObject>(schema: S, options: { owned?: boolean } = {}) {
  const keys: readonly string[] = [...Object.keys(schema.shape), ...(options.owned ? ["owner"] : [])];
  /** The inputs among props (inputs or outputs). */
  const pickInputs = (props: Props): Props => Object.fromEntries(keys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
  /** The declaration: the inputs without `owner`. */
  const declared = (props: Props): Props => {
    const { owner: _owner, ...rest } = pickInputs(props);
    return rest;
  };
  /** The declaration parsed; props a check passed are valid, so a failure here is a bug, thrown with every issue. */
  const parse = (props: Props): z.output<S> => {
    const r = parseInput(schema, declared(props));
    if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
    return r.value;
  };
  return { keys, pickInputs, declared, parse };
}
