/** A mistake on the command line: printed with a hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const usageText = `kslice — see and enter what runs under one kslice prefix

usage: kslice [host options] COMMAND [options]

commands:
  ps [--json] [--interval S]          every container, budget and network: status, usage vs limits, fail counters
  top [--interval S]                  ps refreshing in place, with bars, sorted by pressure (q or Ctrl-C quits)
  logs NAME [-f] [--tail N]           a container's log (runtime, init output, supervisor lines)
  exec NAME -- CMD [ARG...]           run a command in a container (a TTY when stdin is one)
  events [-f] [--json] [--interval S] restarts, state changes, OOM kills and limit hits
  report --out FILE.html|.svg|.png [--seconds N] [--interval S]
                                      usage over a sampled window against limits, one chart per container
  dashboard [--listen HOST:PORT] [--token SECRET] [--local] [--interval S]
                                      a live web page of one or many hosts (repeat --ssh/--key; --local adds
                                      this machine to them), pushed every second; read-only; listens on
                                      127.0.0.1:8090 by default, any other address needs --token (or
                                      $KSLICE_DASHBOARD_TOKEN); open it as http://HOST:PORT/?token=SECRET
  backup NAME --out FILE              a container's writable layer and declaration as one checksummed file
                                      on its host (the container frozen while its layer is read)
  restore FILE [--out DIR]            check a backup file on the host (every member's sha256) and say how a
                                      Container is made from it; --out DIR also unpacks it there

host options:
  --prefix P                          kslice prefix on the host (default: $KSLICE_PREFIX, else kslice)
  --ssh USER@HOST[:PORT] --key FILE   reach the host over SSH (default: this host)
  --host-key "ssh-ed25519 AAAA..."    the host's expected public key
  --insecure-ignore-host-key          skip host-key checking (throwaway hosts only)
  --runtime auto|runc|crun            OCI runtime (default: auto, as the provider picks it)
`;
