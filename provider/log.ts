/**
 * The provider's one way to tell the user something outside a result: a line on stderr, which
 * `pulumi up` shows with the resource's output. One format, `kslice: <message>` and
 * `kslice: warning: <message>`, so a reader (or a grep) finds every line kslice wrote.
 * It sits below every layer (kernel/, reconcile/ and transport/ may all import it) and imports none.
 */
const write = (line: string) => console.error(`kslice: ${line}`);

/** Something the user should act on or know went differently than declared. */
export const warn = (message: string): void => write(`warning: ${message}`);

/** A step the user may want to follow (a migration's phases, a process ending). */
export const info = (message: string): void => write(message);
