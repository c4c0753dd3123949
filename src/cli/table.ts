// SPDX-License-Identifier: MIT
/** Plain-text tables and human units for `electrum-gateway ctl` (pure). */

/** Columns padded to their widest cell, two spaces apart; numbers right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  const cells = rows.map((r) => headers.map((_, i) => cell(r[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === null || r[i] === undefined));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

function cell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

/** 95 s -> "1m35s", 7_300 s -> "2h01m". */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** 1536 -> "1.5K", 3_000_000 -> "2.9M" (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}
