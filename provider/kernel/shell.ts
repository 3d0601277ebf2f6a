/**
 * Quoting for the shell that kernel/ builds. kernel/ is where shell is written (ARCHITECTURE.md,
 * "Reconcile decides, kernel acts"); the implementation stays in transport/ only because the SSH
 * transport quotes its own commands and transport/ may not import a layer above it.
 */
export { shellQuote } from "../transport/transport";
