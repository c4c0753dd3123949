// SPDX-License-Identifier: MIT
/**
 * Reads a V8 CPU profile (node --cpu-prof) and lists the functions with the
 * most self time: where the gateway's CPU goes, not who called it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTimeEntry {
  readonly function: string;
  /** Script and 1-based line, relative to the repository when inside it. */
  readonly location: string;
  readonly selfMs: number;
  /** Share of the non-idle samples. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Time in (idle): the event loop waiting. */
  readonly idleMs: number;
  readonly top: SelfTimeEntry[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  const root = REPO_ROOT.endsWith('/') ? REPO_ROOT : `${REPO_ROOT}/`;
  if (u.startsWith(root)) u = u.slice(root.length);
  const nm = u.lastIndexOf('node_modules/');
  if (nm !== -1) u = u.slice(nm);
  return u;
}

/**
 * `window` keeps only the samples taken between fromMs and toMs after the
 * profile started (node starts profiling as the process boots), so start-up
 * work (module loading, compiling) does not hide the steady state.
 */
export function summarizeProfile(file: string, top = 15, window?: { fromMs: number; toMs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let atUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = profile.timeDeltas[i] ?? 0;
    atUs += delta;
    if (window && (atUs < window.fromMs * 1000 || atUs > window.toMs * 1000)) continue;
    // timeDeltas[i] is the time since the previous sample; charge it to this sample's node.
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const byFunction = new Map<string, { fn: string; loc: string; us: number }>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const cf = node.callFrame;
    totalUs += us;
    if (cf.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const fn = cf.functionName || '(anonymous)';
    const loc = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${fn}@${loc}`;
    const e = byFunction.get(key) ?? { fn, loc, us: 0 };
    e.us += us;
    byFunction.set(key, e);
  }
  const busy = Math.max(1, totalUs - idleUs);
  const entries = [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, top);
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    top: entries.map((e) => ({
      function: e.fn,
      location: e.loc,
      selfMs: Math.round(e.us / 100) / 10,
      percent: Math.round((e.us / busy) * 1000) / 10,
    })),
  };
}

/** The newest .cpuprofile in a directory (node names them CPU.<date>.<pid>...). */
export function newestProfile(dir: string): string | null {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return null;
  files.sort();
  return path.join(dir, files[files.length - 1]!);
}
