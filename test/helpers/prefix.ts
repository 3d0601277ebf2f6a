import { randomBytes } from "node:crypto";

/** This run's prefix (DESIGN.md: kslice-t<random>); test.sh sets it so its leak check knows it. */
export const testPrefix = process.env.KSLICE_TEST_PREFIX ?? `kslice-t${randomBytes(3).toString("hex")}`;
