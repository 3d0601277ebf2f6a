import { z } from "zod";

/** A check failure in Pulumi's shape: the input's path and why it was rejected. */
export interface InputFailure {
  property: string;
  reason: string;
}

/** Shows a value the way the user wrote it, for the "got X" part of a message. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  return JSON.stringify(value) ?? String(value);
}

const list = (values: readonly unknown[]) => values.map(show).join(", ");

/**
 * Turns zod's terse defaults into "got X; expected Y" messages (ARCHITECTURE.md, "Errors": show the bad
 * value and what was expected). Passed per parse so that a user's own zod is not affected.
 */
export const friendlyError: z.core.$ZodErrorMap = (issue) => {
  const got = show(issue.input);
  switch (issue.code) {
    case "invalid_union": {
      const disc = (issue as { discriminator?: string }).discriminator;
      if (!disc) return unionMessage(issue.errors, got);
      const options = issue.inst instanceof z.core.$ZodDiscriminatedUnion ? issue.inst._zod.def.options : [];
      const allowed = options.flatMap((o) => [...(o._zod.propValues?.[disc] ?? [])]);
      const value = (issue.input as Record<string, unknown> | undefined)?.[disc];
      return `got ${show(value)}; expected one of ${list(allowed)}`;
    }
    case "unrecognized_keys":
      return `unknown ${issue.keys.length > 1 ? "properties" : "property"} ${list(issue.keys)} (a typo?)`;
    case "invalid_type":
      if (issue.input === undefined) return `is required; expected ${issue.expected}`;
      if (issue.expected === "int") return `got ${got}; expected a whole number`;
      return `got ${got}; expected ${issue.expected}`;
    case "invalid_value":
      return `got ${got}; expected one of ${list(issue.values)}`;
    case "too_small":
      return `got ${got}; expected ${issue.origin === "string" ? `at least ${issue.minimum} characters` : `${issue.inclusive ? "at least" : "more than"} ${issue.minimum}`}`;
    case "too_big":
      return `got ${got}; expected ${issue.origin === "string" ? `at most ${issue.maximum} characters` : `${issue.inclusive ? "at most" : "less than"} ${issue.maximum}`}`;
    default:
      return undefined;
  }
};

/**
 * For `"max" | size` and similar unions: the message of the branch that explains the mistake,
 * naming the literal alternatives too, instead of zod's "Invalid input".
 */
function unionMessage(branches: z.core.$ZodIssue[][], got: string): string {
  const issues = branches.flat();
  const literals = issues.flatMap((i) => (i.code === "invalid_value" ? i.values : []));
  const specific = issues.find((i) => i.code !== "invalid_value");
  const base = specific?.message ?? `got ${got}; expected ${literals.length ? `one of ${list(literals)}` : "another form"}`;
  return specific && literals.length ? `${base} (or ${list(literals)})` : base;
}

/** Maps zod issues onto Pulumi check failures; never throws for a user's mistake. */
export function toFailures(error: z.ZodError, base: string[] = []): InputFailure[] {
  return error.issues.flatMap((issue) => {
    const path = [...base, ...issue.path.map(String)];
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ property: [...path, key].join("."), reason: issue.message }));
    }
    return [{ property: path.join("."), reason: issue.message }];
  });
}

/** Parses with friendly messages; returns the value or the failures. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): { ok: true; value: z.output<T> } | { ok: false; failures: InputFailure[] } {
  const result = schema.safeParse(input, { error: friendlyError });
  return result.success ? { ok: true, value: result.data } : { ok: false, failures: toFailures(result.error) };
}
