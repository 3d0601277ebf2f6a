import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** What scripts/leaks.sh lists for a prefix: an empty array when the host is clean. */
export function leaksOf(prefix: string): string[] {
  try {
    execFileSync(join(__dirname, "..", "..", "scripts", "leaks.sh"), [prefix], { encoding: "utf8" });
    return [];
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? "")
      .trim()
      .split("\n")
      .filter(Boolean);
  }
}
