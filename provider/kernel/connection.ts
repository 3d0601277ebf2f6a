/**
 * How reconcile/ reaches a host without holding transport/ itself: opening one (kept per
 * connection by transport/open.ts), the key that names a connection, and whether an error means the
 * host did not answer.
 */
export { connectionKey, openTransport } from "../transport/open";
export { isHostUnreachable } from "../transport/transport";
