import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { join } from "node:path";
import type { PrefixObserver, PrefixSample } from "../provider/kernel/observe/sample";
import { openObserver, type HostOptions } from "./connect";
import { diffEvents, initialEvents, type KsliceEvent } from "./events";
import { buildView, isEmpty, type PrefixView } from "./model";
import { dashboardCss, dashboardHtml, dashboardJs } from "./dashboard-page";
import { UsageError } from "./usage";

/** What the page shows of a host besides its containers: read once when it is first reached. */
export interface HostFactsView {
  kernel: string;
  hostname: string;
  cgroupVersion: 1 | 2;
  runtime: string;
  cpus: number;
  memoryBytes: number;
  /** The filesystem of /var/lib, from the last sample. */
  disk: { sizeBytes: number; usedBytes: number; availBytes: number } | null;
}

/** One reading of one host per tick: its view, or why there is none. */
export type HostReading = { ok: true; facts: HostFactsView; view: PrefixView } | { ok: false; reason: string };

/** Where a host's readings come from: a real host (one sample command per tick) or, in the bench, a synthesized fleet. */
export interface HostSource {
  readonly label: string;
  readonly prefix: string;
  read(): Promise<HostReading>;
}

/** Samples one host through the CLI's observer: one facts read when first reached, then one sample command per read. */
export class ObservedHost implements HostSource {
  private obs: PrefixObserver | null = null;
  private prev: PrefixSample | undefined;
  private lastOpenMs = 0;
  private lastReason = "";

  constructor(
    readonly label: string,
    readonly prefix: string,
    private readonly options: HostOptions,
  ) {}

  async read(): Promise<HostReading> {
    try {
      if (!this.obs) {
        // an unreachable host is asked again every 5 s, not every tick
        if (Date.now() - this.lastOpenMs < 5000 && this.lastReason) return { ok: false, reason: this.lastReason };
        this.lastOpenMs = Date.now();
        this.obs = await openObserver(this.options);
      }
      const obs = this.obs;
      const cur = await obs.sample();
      const view = buildView({ host: obs.t.target, prefix: obs.prefix, cgroupVersion: obs.driver.version, runtime: obs.runtime }, cur, this.prev);
      this.prev = cur;
      const f = obs.facts;
      const facts: HostFactsView = {
        kernel: f.kernelRelease,
        hostname: f.hostname,
        cgroupVersion: obs.driver.version,
        runtime: obs.runtime,
        cpus: f.cpuCount,
        memoryBytes: f.memoryTotalBytes,
        disk: cur.hostDisk,
      };
      this.lastReason = "";
      return { ok: true, facts, view };
    } catch (e) {
      // the transport is kept: SSH reconnects by itself at the next command
      this.prev = undefined;
      this.lastReason = (e instanceof Error ? e.message : String(e)).split("\n").slice(0, 3).join(" ");
      return { ok: false, reason: this.lastReason };
    }
  }
}

/** An event of `kslice events`, or a host lost or reached again; with the host it happened on. */
export type DashboardEvent = Omit<KsliceEvent, "object" | "kind"> & {
  host: string;
  object: KsliceEvent["object"] | "host";
  kind: KsliceEvent["kind"] | "unreachable" | "reachable";
};

/** What the page receives about a host at each tick. */
export interface HostPayload {
  id: number;
  label: string;
  prefix: string;
  reachable: boolean;
  /** Why it is unreachable, or that nothing is under its prefix. */
  reason: string | null;
  empty: boolean;
  facts: HostFactsView | null;
  view: PrefixView | null;
}

/** Chart history kept per container and budget: one point per tick, for the last minutes. */
export const historyPoints = 300;
const eventsKept = 300;

type Point = [number, number, number | null, number, number | null];

class HostState {
  facts: HostFactsView | null = null;
  view: PrefixView | null = null;
  reading: HostReading | null = null;
  /** key ("c:name" or "b:path") → points [t, memory bytes, cpu %, tasks, disk bytes]. */
  history = new Map<string, Point[]>();
  busy = false;

  constructor(
    readonly id: number,
    readonly source: HostSource,
  ) {}

  payload(): HostPayload {
    const r = this.reading;
    const empty = !!r?.ok && isEmpty(r.view);
    return {
      id: this.id,
      label: this.source.label,
      prefix: this.source.prefix,
      reachable: !!r?.ok,
      reason: !r ? "not read yet" : !r.ok ? r.reason : empty ? `nothing under prefix "${this.source.prefix}" (no container, cgroup or network)` : null,
      empty,
      facts: this.facts,
      view: r?.ok ? r.view : null,
    };
  }

  record(view: PrefixView): void {
    const t = Date.parse(view.sampledAt) / 1000;
    const seen = new Set<string>();
    const add = (key: string, p: Point) => {
      seen.add(key);
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = []));
      h.push(p);
      if (h.length > historyPoints) h.splice(0, h.length - historyPoints);
    };
    for (const c of view.containers) add(`c:${c.name}`, [t, c.memory.currentBytes, c.cpu.percent, c.pids.current, c.disk?.usedBytes ?? null]);
    for (const b of view.budgets) add(`b:${b.path}`, [t, b.memory.currentBytes, b.cpu.percent, b.pids.current, null]);
    for (const k of this.history.keys()) if (!seen.has(k)) this.history.delete(k);
  }
}

export interface DashboardOptions {
  host: string;
  port: number;
  token?: string;
  intervalMs: number;
  sources: HostSource[];
}

const loopbackNames = new Set(["localhost", "::1"]);

export function isLoopback(host: string): boolean {
  return loopbackNames.has(host) || (isIP(host) === 4 && host.startsWith("127."));
}

/** --listen HOST:PORT (IPv6 in brackets), checked; the token rule is applied by startDashboard. */
export function parseListen(raw: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: got ${JSON.stringify(raw)}; expected HOST:PORT, e.g. 127.0.0.1:8090`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** The reason a listen address is refused, or null: anything but loopback needs a token (the page shows every container of the hosts). */
export function listenRefusal(host: string, token: string | undefined): string | null {
  if (isLoopback(host) || token) return null;
  return `--listen ${host}: not a loopback address, so anyone who reaches it would see every container of the hosts; give --token SECRET (or KSLICE_DASHBOARD_TOKEN) or listen on 127.0.0.1`;
}

const uplotDir = () => join(require.resolve("uplot"), "..");

const assets: Record<string, { type: string; body: () => string | Buffer }> = {
  "/": { type: "text/html; charset=utf-8", body: () => dashboardHtml },
  "/app.js": { type: "text/javascript; charset=utf-8", body: () => dashboardJs },
  "/app.css": { type: "text/css; charset=utf-8", body: () => dashboardCss },
  // served from node_modules: the page loads nothing from elsewhere
  "/uplot.js": { type: "text/javascript; charset=utf-8", body: () => readFileSync(join(uplotDir(), "uPlot.iife.min.js")) },
  "/uplot.css": { type: "text/css; charset=utf-8", body: () => readFileSync(join(uplotDir(), "uPlot.min.css")) },
};

/** The live dashboard: samples every host once per tick and pushes the result to every page by server-sent events. */
export class Dashboard {
  private readonly hosts: HostState[];
  private readonly clients = new Set<ServerResponse>();
  private events: DashboardEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private server: Server | null = null;
  private ticking: Promise<void> | null = null;
  /** Ticks done (tests and the bench wait on it). */
  ticks = 0;

  constructor(private readonly options: DashboardOptions) {
    this.hosts = options.sources.map((s, i) => new HostState(i, s));
  }

  /** Listens, or fails naming the address and the error (a port in use); then samples every interval. */
  async start(): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => {
        const where = `${this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host}:${this.options.port}`;
        reject(new Error(`cannot listen on ${where}: ${e.code === "EADDRINUSE" ? "address already in use" : e.message} (${e.code ?? "error"})`));
      });
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : this.options.port;
    const host = this.options.host.includes(":") ? `[${this.options.host}]` : this.options.host;
    await this.tick();
    this.schedule();
    return `http://${host}:${port}/`;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        if (this.timer) this.schedule();
      });
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** One sample of every host (a host whose last sample is still running is skipped), then one push. */
  async tick(): Promise<void> {
    const fresh: DashboardEvent[] = [];
    await Promise.all(
      this.hosts.map(async (h) => {
        if (h.busy) return;
        h.busy = true;
        try {
          const r = await h.source.read();
          const label = h.source.label;
          if (r.ok && h.reading?.ok === false)
            fresh.push({ host: label, at: r.view.sampledAt, object: "host", name: label, kind: "reachable", detail: "answers again" });
          if (r.ok) {
            const evs = h.view ? diffEvents(h.view, r.view) : initialEvents(r.view);
            fresh.push(...evs.map((e) => ({ ...e, host: h.source.label })));
            h.view = r.view;
            h.facts = r.facts;
            h.record(r.view);
          } else if (h.reading?.ok !== false) {
            fresh.push({ host: label, at: new Date().toISOString(), object: "host", name: label, kind: "unreachable", detail: r.reason });
          }
          h.reading = r;
        } finally {
          h.busy = false;
        }
      }),
    );
    this.events.push(...fresh);
    if (this.events.length > eventsKept) this.events.splice(0, this.events.length - eventsKept);
    this.ticks++;
    this.broadcast("tick", { at: Date.now(), hosts: this.hosts.map((h) => h.payload()), events: fresh });
  }

  /** Everything a page needs at first: every host, its chart history and the recent events. */
  state(): unknown {
    return {
      intervalMs: this.options.intervalMs,
      historyPoints,
      hosts: this.hosts.map((h) => h.payload()),
      history: this.hosts.map((h) => Object.fromEntries(h.history)),
      events: this.events,
    };
  }

  private broadcast(event: string, data: unknown): void {
    if (!this.clients.size) return;
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.write(msg);
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const want = this.options.token;
    if (!want) return true;
    const header = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const given = Buffer.from(url.searchParams.get("token") ?? header ?? "");
    const expected = Buffer.from(want);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://dashboard");
    // read-only: changes go through code
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end("read-only\n");
      return;
    }
    // the page's code and uPlot hold no data: only the page and its data need the token
    const isData = url.pathname === "/" || url.pathname === "/events" || url.pathname === "/state.json";
    if (isData && !this.authorized(req, url)) {
      res.writeHead(401, { "content-type": "text/plain" }).end("token required: open the page as /?token=SECRET\n");
      return;
    }
    const headers = {
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
    };
    if (url.pathname === "/events") {
      res.writeHead(200, { ...headers, "content-type": "text/event-stream" });
      res.write(`event: init\ndata: ${JSON.stringify(this.state())}\n\n`);
      this.clients.add(res);
      req.on("close", () => this.clients.delete(res));
      return;
    }
    if (url.pathname === "/state.json") {
      res.writeHead(200, { ...headers, "content-type": "application/json" }).end(JSON.stringify(this.state()));
      return;
    }
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const asset = assets[url.pathname];
    if (!asset) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, { ...headers, "content-type": asset.type }).end(req.method === "HEAD" ? undefined : asset.body());
  }
}
