import { randomBytes } from "node:crypto";

/** This run's prefix (kslice-t<random>, ARCHITECTURE.md "Where kslice keeps things on a host"); test.sh sets it so its leak check knows it. */
export const testPrefix = process.env.KSLICE_TEST_PREFIX ?? `kslice-t${randomBytes(3).toString("hex")}`;
