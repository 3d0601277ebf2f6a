#!/usr/bin/env node
import { closeAllTransports } from "../provider/transport/open";
import { runCommandLine } from "./commands";
import { UsageError } from "./usage";

runCommandLine(process.argv.slice(2))
  .then(async (code) => {
    await closeAllTransports();
    process.exitCode = code;
  })
  .catch(async (e: unknown) => {
    await closeAllTransports().catch(() => undefined);
    if (e instanceof UsageError) {
      process.stderr.write(`kslice: ${e.message}\n(kslice ${e.command ? `${e.command} ` : ""}--help for usage)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`kslice: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  });
