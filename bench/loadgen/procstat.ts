// SPDX-License-Identifier: MIT
/**
 * CPU time and memory of the process under test, read from /proc (Linux):
 *
 * - /proc/PID/stat fields 14 and 15 (utime, stime) in clock ticks;
 * - /proc/PID/status VmRSS (now) and VmHWM (peak), in kB;
 * - writing "5" to /proc/PID/clear_refs resets VmHWM to the current RSS, so a
 *   long-lived process (the simulator) gets a fresh peak for each run.
 *
 * A target may be a tree (the gateway's cluster primary and its workers), so
 * every figure is summed over the process and its descendants.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

let clockTicks: number | null = null;
/** USER_HZ: clock ticks per second (getconf CLK_TCK; 100 on every mainstream Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface StatFields {
  readonly pid: number;
  readonly ppid: number;
  /** User and system CPU time in milliseconds. */
  readonly userMs: number;
  readonly systemMs: number;
}

export function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const tick = 1000 / clockTicksPerSecond();
  return {
    pid,
    ppid: Number(rest[1]),
    userMs: Number(rest[11]) * tick,
    systemMs: Number(rest[12]) * tick,
  };
}

export interface MemFields {
  readonly rssKb: number;
  readonly hwmKb: number;
}

export function readMem(pid: number): MemFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** Resets the peak RSS (VmHWM) of a process to its current RSS; false where the kernel does not allow it. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The process and all its descendants, by scanning /proc for parent ids. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (st === null) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(st.pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

export interface ProcessUsage {
  /** Processes measured (the target and its descendants). */
  readonly pids: number[];
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  readonly cpuMs: number;
  /** Sum over the processes of each one's peak RSS during the measurement. */
  readonly peakRssKb: number;
  /** Summed RSS at the start and at the end of the measurement. */
  readonly startRssKb: number;
  readonly endRssKb: number;
  /** Whether the kernel let us reset the peak at the start (otherwise the peak is the sampled maximum). */
  readonly peakReset: boolean;
  /** CPU time of each process (a cluster's primary and workers), by pid. */
  readonly cpuMsByPid: Readonly<Record<string, number>>;
}

/**
 * Measures a process tree between start() and stop(): CPU time used in
 * between, and peak RSS (VmHWM after a reset, and a 100 ms sampled maximum as
 * a floor for processes that appeared or vanished in between).
 */
export class ProcessMonitor {
  private readonly startCpu = new Map<number, { user: number; system: number }>();
  private readonly lastCpu = new Map<number, { user: number; system: number }>();
  private readonly peakByPid = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private startRss = 0;
  private peakReset = true;

  /** `tree` false measures the one process only (cheaper: no /proc scan for descendants). */
  constructor(
    private readonly root: number,
    private readonly tree = true,
  ) {}

  private pids(): number[] {
    return this.tree ? processTree(this.root) : [this.root];
  }

  start(): this {
    const pids = this.pids();
    let rss = 0;
    for (const pid of pids) {
      if (!resetPeak(pid)) this.peakReset = false;
      const st = readStat(pid);
      if (st) this.startCpu.set(pid, { user: st.userMs, system: st.systemMs });
      rss += readMem(pid)?.rssKb ?? 0;
    }
    this.startRss = rss;
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const st = readStat(pid);
      if (st) this.lastCpu.set(pid, { user: st.userMs, system: st.systemMs });
      const mem = readMem(pid);
      if (mem) this.peakByPid.set(pid, Math.max(this.peakByPid.get(pid) ?? 0, mem.rssKb, this.peakReset ? mem.hwmKb : 0));
    }
  }

  /** RSS of the whole tree now, in kB. */
  rssNowKb(): number {
    let rss = 0;
    for (const pid of this.pids()) rss += readMem(pid)?.rssKb ?? 0;
    return rss;
  }

  stop(): ProcessUsage {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    let user = 0;
    let system = 0;
    const byPid: Record<string, number> = {};
    for (const [pid, last] of this.lastCpu) {
      const first = this.startCpu.get(pid) ?? { user: 0, system: 0 };
      user += last.user - first.user;
      system += last.system - first.system;
      byPid[String(pid)] = Math.round(last.user - first.user + last.system - first.system);
    }
    let peak = 0;
    for (const v of this.peakByPid.values()) peak += v;
    return {
      pids: [...this.lastCpu.keys()],
      cpuUserMs: Math.round(user),
      cpuSystemMs: Math.round(system),
      cpuMs: Math.round(user + system),
      peakRssKb: peak,
      startRssKb: this.startRss,
      endRssKb: this.rssNowKb(),
      peakReset: this.peakReset,
      cpuMsByPid: byPid,
    };
  }
}

/** The soft limit on open files of this process (the load generator's and its children's budget). */
export function openFileLimit(pid: number | 'self' = 'self'): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    /* not Linux */
  }
  return 1024;
}

/** CPU time the whole machine spent busy (all cores, steal included) and in total, in ms, from /proc/stat. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const tick = 1000 / clockTicksPerSecond();
    const busy = user + nice + system + irq + softirq + steal;
    return { busyMs: busy * tick, totalMs: (busy + idle + iowait) * tick };
  } catch {
    return { busyMs: 0, totalMs: 0 };
  }
}

/** Socket inodes of the established TCP connections whose local port is `port` (/proc/net/tcp and tcp6). */
function establishedInodes(port: number): Set<string> {
  const out = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01') continue;
      if (f[1]!.slice(f[1]!.lastIndexOf(':') + 1) === hexPort) out.add(f[9]!);
    }
  }
  return out;
}

/**
 * How many established connections on `port` each process holds (Linux /proc:
 * a process's fds that are those sockets). For a cluster, the sessions each
 * worker serves; a socket held by two processes counts for both.
 */
export function sessionsByProcess(pids: readonly number[], port: number): { pid: number; sessions: number }[] {
  const inodes = establishedInodes(port);
  return pids.map((pid) => {
    let sessions = 0;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return { pid, sessions: 0 };
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) sessions++;
      } catch {
        /* closed meanwhile */
      }
    }
    return { pid, sessions };
  });
}
