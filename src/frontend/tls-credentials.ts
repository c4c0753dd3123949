// SPDX-License-Identifier: MIT
/**
 * A listener's certificate and key, reloaded when the files change (or on
 * SIGHUP through the gateway) without touching sessions already open: only
 * new handshakes use the new context. A bad new pair is logged and the old
 * one kept, so a half-written renewal never takes the listener down.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.js';

export class TlsCredentials {
  private context: tls.SecureContext;
  private watching = false;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly log: Logger,
  ) {
    this.context = this.load();
  }

  get current(): tls.SecureContext {
    return this.context;
  }

  /** Re-reads both files; returns whether the new pair is in use. */
  reload(): boolean {
    try {
      this.context = this.load();
      this.log.info({ cert: this.certFile }, 'TLS certificate reloaded');
      return true;
    } catch (err) {
      this.log.error({ cert: this.certFile, err: (err as Error).message }, 'TLS reload failed; keeping the previous certificate');
      return false;
    }
  }

  /** Polls the files (fs.watch misses editors' rename-and-replace and certbot's symlink swaps). */
  watch(intervalMs = 2000): void {
    if (this.watching) return;
    this.watching = true;
    const onChange = (curr: { mtimeMs: number }, prev: { mtimeMs: number }): void => {
      if (curr.mtimeMs !== prev.mtimeMs) this.reload();
    };
    watchFile(this.certFile, { interval: intervalMs, persistent: false }, onChange);
    watchFile(this.keyFile, { interval: intervalMs, persistent: false }, onChange);
  }

  close(): void {
    if (!this.watching) return;
    unwatchFile(this.certFile);
    unwatchFile(this.keyFile);
    this.watching = false;
  }

  private load(): tls.SecureContext {
    return tls.createSecureContext({
      cert: readFileSync(this.certFile),
      key: readFileSync(this.keyFile),
      minVersion: 'TLSv1.2',
    });
  }
}
