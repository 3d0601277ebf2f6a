// A PostgreSQL server of the test's own: Debian's postgresql-15 binaries, a new cluster in a temp
// dir (owned by the postgres user: initdb refuses root), listening on 127.0.0.1 at a free port and
// on a unix socket in that dir, password auth; stopped and removed by stop().
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./sshd";

export interface LocalPostgres {
  /** What a pipeline sets as PULUMI_BACKEND_URL. */
  url: string;
  port: number;
  /** Runs one SQL statement in the backend's database; rows tab-separated, one a line. */
  query(sql: string): string;
  stop(): void;
}

/** The newest PostgreSQL under /usr/lib/postgresql (Debian's layout), or undefined. */
export function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  return newest === undefined ? undefined : join(root, newest, "bin");
}

export async function startPostgres(): Promise<LocalPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error("no PostgreSQL server under /usr/lib/postgresql: install postgresql-15 (scripts/packages.txt)");
  const dir = mkdtempSync(join(tmpdir(), "kslice-pg-"));
  const password = `pw${Math.random().toString(36).slice(2)}`;
  // KSLICE_TEST_PG_PORT pins the port (a run confined to given host ports); a free one otherwise
  const port = Number(process.env.KSLICE_TEST_PG_PORT) || (await freePort());
  const asPostgres = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
    execFileSync(userInfo().uid === 0 ? "runuser" : cmd, userInfo().uid === 0 ? ["-u", "postgres", "--", join(bin, cmd), ...args] : args, {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
  if (userInfo().uid === 0) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })), -1);
  writeFileSync(join(dir, "pw"), password, { mode: 0o600 });
  if (userInfo().uid === 0) chownSync(join(dir, "pw"), Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })), -1);
  const data = join(dir, "data");
  asPostgres("initdb", ["-D", data, "-U", "kslice", "--pwfile", join(dir, "pw"), "-A", "scram-sha-256", "--no-sync"]);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  asPostgres("pg_ctl", ["-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  const pgEnv = { PGPASSWORD: password, PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "kslice" };
  const stop = () => {
    try {
      asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    execFileSync(join(bin, "createdb"), ["pulumi"], { env: { ...process.env, ...pgEnv }, timeout: 30_000 });
  } catch (err) {
    stop();
    throw err;
  }
  return {
    url: `postgres://kslice:${password}@127.0.0.1:${port}/pulumi?sslmode=disable`,
    port,
    query: (sql) =>
      execFileSync(join(bin, "psql"), ["-d", "pulumi", "-AtF", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql], {
        encoding: "utf8",
        env: { ...process.env, ...pgEnv },
        timeout: 30_000,
      }),
    stop,
  };
}
