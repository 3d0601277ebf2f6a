import type { z } from "zod";
import { parseInput, type InputFailure } from "../../schema/issues";
import type { CheckResult, DiffResult, LifecycleImpl, Props } from "./provider-types";

/**
 * A kind, defined once (ARCHITECTURE.md, "Kinds"): its schema and the policy of each field beside
 * it, as pulumi-command's typed state states its fields'. From it come the input keys, the parse,
 * the replace keys and the typed values its lifecycle is written against (`TypedLifecycle`).
 */
export interface Kind<
  S extends z.ZodObject = z.ZodObject,
  Kept extends string = string,
  Hint extends string = string,
  Out = object,
  R extends readonly string[] = readonly string[],
> {
  schema: S;
  /** Inputs kept in state but never diffed: `owner` (ownership.ts), a Container's `diskFrom`. */
  kept: readonly Kept[];
  /** What a resource class passes to check beside the inputs (a parent's declared limits): read there, never stored. */
  hints: readonly Hint[];
  /** Inputs whose change replaces (a host's machine, compared by identity, is each lifecycle's own). */
  replaces: R;
  /** Outputs the resource class marks secret (additionalSecretOutputs). */
  secret: readonly string[];
  /** The outputs' type only (never a value): see `kind`. */
  outputs?: Out;
}

/** The declaration as check stores it: the user's notation ("256Mi"), defaults filled in or not. */
export type Declared<K extends Kind> = z.input<K["schema"]>;
/** Kept fields are not validated by the schema: what state holds, as it holds it. */
type KeptOf<K extends Kind> = K extends Kind<z.ZodObject, infer Kept> ? { [k in Kept]?: unknown } : never;
type HintOf<K extends Kind> = K extends Kind<z.ZodObject, string, infer Hint> ? Hint : never;
export type OutOf<K extends Kind> = K extends Kind<z.ZodObject, string, string, infer Out> ? Out : never;
/** The inputs as the engine holds them once check passed (in preview, values may still be unknown: unknown.ts). */
export type Inputs<K extends Kind> = Declared<K> & KeptOf<K>;
/** Inputs with outputs, as state holds them; state of an older kslice may lack any output. */
export type State<K extends Kind> = Inputs<K> & Partial<OutOf<K>>;
/** What check receives: anything, under the inputs' and hints' names, until the schema says otherwise. */
export type Unchecked<K extends Kind> = { [k in keyof Declared<K> | keyof KeptOf<K> | HintOf<K>]?: unknown };
/** The declaration parsed (defaults filled in, units in bytes). */
export type Parsed<K extends Kind> = z.output<K["schema"]>;

/**
 * A kind: `kind<Outputs>()({ schema, kept, replaces, … })`. Curried so that the schema's types are
 * inferred while the outputs' type is named (a type has no value to infer it from).
 */
export const kind =
  <Out extends object = Record<never, never>>() =>
  <S extends z.ZodObject, const R extends readonly (keyof z.output<S> & string)[], Kept extends string = never, Hint extends string = never>(spec: {
    schema: S;
    kept?: readonly Kept[];
    hints?: readonly Hint[];
    replaces: R;
    /** Inputs or outputs: a name that is neither fails typecheck. */
    secret?: readonly ((keyof z.input<S> | keyof Out) & string)[];
  }): Kind<S, Kept, Hint, Out, R> => ({ kept: [], hints: [], secret: [], ...spec });

export interface Created<K extends Kind> {
  id: string;
  outs: State<K>;
}
export interface Updated<K extends Kind> {
  outs: State<K>;
}
export interface Refreshed<K extends Kind> {
  id?: string;
  props?: State<K>;
}

export interface TypedCheck<K extends Kind> {
  inputs?: Unchecked<K>;
  failures?: InputFailure[];
}

/** A kind's lifecycle on its typed values; `lifecycle` adapts it to the engine's. */
export interface TypedLifecycle<K extends Kind> {
  check(olds: Partial<State<K>>, news: Unchecked<K>): Promise<TypedCheck<K>>;
  diff(id: string, olds: State<K>, news: Inputs<K>): Promise<DiffResult>;
  create(inputs: Inputs<K>): Promise<Created<K>>;
  read(id: string, props: State<K>): Promise<Refreshed<K>>;
  update(id: string, olds: State<K>, news: Inputs<K>): Promise<Updated<K>>;
  delete(id: string, props: State<K>): Promise<void>;
}

// The engine hands back what this kind's check and create returned: the values are trusted, not
// validated again (a parse, where a lifecycle needs one, validates the declaration).
const fromEngine = <T>(props: Props) => props as T;
const toEngine = (v: object): Props => ({ ...v });

/** The one edge between the engine's untyped props and a kind's typed values. */
export function lifecycle<K extends Kind>(_kind: K, impl: TypedLifecycle<K>): LifecycleImpl {
  return {
    check: async (olds, news): Promise<CheckResult> => {
      const { inputs, ...rest } = await impl.check(fromEngine<Partial<State<K>>>(olds), news);
      return inputs ? { ...rest, inputs: toEngine(inputs) } : rest;
    },
    diff: (id, olds, news) => impl.diff(id, fromEngine<State<K>>(olds), fromEngine<Inputs<K>>(news)),
    create: async (inputs) => {
      const r = await impl.create(fromEngine<Inputs<K>>(inputs));
      return { id: r.id, outs: toEngine(r.outs) };
    },
    read: async (id, props) => {
      const { props: read, ...rest } = await impl.read(id, fromEngine<State<K>>(props));
      return read ? { ...rest, props: toEngine(read) } : rest;
    },
    update: async (id, olds, news) => ({ outs: toEngine((await impl.update(id, fromEngine<State<K>>(olds), fromEngine<Inputs<K>>(news))).outs) }),
    delete: (id, props) => impl.delete(id, fromEngine<State<K>>(props)),
  };
}

/**
 * A kind's inputs, from its schema alone: a field added to the schema is an input of every
 * operation at once. The engine's props hold more than the declaration: outputs, and the kept.
 */
export function kindInputs<K extends Kind>(k: K) {
  const keys: readonly string[] = [...Object.keys(k.schema.shape), ...k.kept];
  const at = (props: object, key: string): unknown => (props as Props)[key];
  const pick = (props: object): Props => Object.fromEntries(keys.filter((key) => at(props, key) !== undefined).map((key) => [key, at(props, key)]));
  /** The inputs among props (inputs or state), typed as what they came from. */
  const pickInputs = <T extends Unchecked<K>>(props: T) => pick(props) as Pick<T, keyof T & keyof Unchecked<K>>;
  /** The declaration: the inputs without those kept. */
  const declared = (props: Unchecked<K>): Unchecked<K> =>
    Object.fromEntries(Object.entries(pick(props)).filter(([key]) => !k.kept.includes(key))) as Unchecked<K>;
  /** The declaration parsed; props a check passed are valid, so a failure here is a bug, thrown with every issue. */
  const parse = (props: Unchecked<K>): Parsed<K> => {
    const r = parseInput<K["schema"]>(k.schema, declared(props));
    if (!r.ok) throw new Error(r.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
    return r.value;
  };
  return { keys, pickInputs, declared, parse };
}
