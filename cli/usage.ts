/** A mistake on the command line: printed with a hint to the command's help, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command it was given to, once known: the hint then names that command's help. */
  command?: string;
}

/** One line of help: what to type and what it does (summary lines wrapped by hand, as printed). */
export interface HelpEntry {
  usage: string;
  summary: readonly string[];
}

const column = 38;

/** Entries as two columns; a usage too long for the first gets a line of its own. */
export function helpLines(entries: readonly HelpEntry[]): string {
  const indent = " ".repeat(column);
  return entries
    .map(({ usage, summary }) => {
      const [first = "", ...more] = summary;
      const head = usage.length < column - 2 ? [`  ${usage.padEnd(column - 2)}${first}`] : [`  ${usage}`, `${indent}${first}`];
      return [...head, ...more.map((l) => `${indent}${l}`)].join("\n");
    })
    .join("\n");
}

const title = "kslice — see and enter what runs under one kslice prefix";

/** `kslice --help`: every command, then the host options. */
export function usageText(commands: readonly HelpEntry[], hostOptions: readonly HelpEntry[]): string {
  return `${title}\n\nusage: kslice [host options] COMMAND [options]\n\ncommands:\n${helpLines(commands)}\n\nhost options:\n${helpLines(hostOptions)}\n`;
}

/** `kslice COMMAND --help`: that command, then the host options. */
export function commandUsageText(command: HelpEntry, hostOptions: readonly HelpEntry[]): string {
  const summary = command.summary.map((l) => `  ${l}`).join("\n");
  return `usage: kslice [host options] ${command.usage}\n${summary}\n\nhost options:\n${helpLines(hostOptions)}\n`;
}
