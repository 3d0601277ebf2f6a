import { z } from "zod";

export const localConnection = z.strictObject({
  /** Run commands on the machine that runs the Pulumi engine. */
  type: z.literal("local"),
});

export const sshConnection = z.strictObject({
  /** Reach the host with OpenSSH. */
  type: z.literal("ssh"),
  /** Host name or address, e.g. "10.0.0.5". */
  host: z.string().trim().min(1),
  /** TCP port. @default 22 */
  port: z.number().int().min(1).max(65535).default(22),
  /** Login user; kslice needs root on the host. @default "root" */
  user: z.string().min(1).default("root"),
  /** Private key in OpenSSH format; pass it as a Pulumi secret. */
  privateKey: z.string().min(1),
  /**
   * The host's expected public key, e.g. "ssh-ed25519 AAAA…". Host-key checking is on by
   * default: without this key the connection is refused unless `insecureIgnoreHostKey` is true.
   */
  hostKey: z
    .string()
    .regex(/^(ssh-|ecdsa-)\S+ \S+/, 'expected a public key like "ssh-ed25519 AAAA…"')
    .optional(),
  /** Skip host-key checking (only for throwaway hosts). @default false */
  insecureIgnoreHostKey: z.boolean().default(false),
  /** Bound on establishing the connection, in seconds. @default 10 */
  connectTimeoutSeconds: z.number().int().min(1).max(300).default(10),
});

export const connection = z.discriminatedUnion("type", [localConnection, sshConnection]);

export type Connection = z.output<typeof connection>;
export type SshConnection = z.output<typeof sshConnection>;
