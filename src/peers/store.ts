// SPDX-License-Identifier: MIT
/**
 * The peers file on disk: restored at start, written atomically (a temporary
 * file renamed over the old one, so a crash leaves the old or the new file,
 * never half of one). A file that cannot be decoded is renamed aside
 * (PATH.corrupt-<time>) with a log line and the gateway starts without it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';
import type { PeerRecord } from './peer.js';
import { decodePeersFile, encodePeersFile, PeersFileError } from './peers-file.js';

export class PeersStore {
  private lastWritten: string | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly network: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The peers saved last time; [] when there is no file or it was set aside. */
  async load(): Promise<PeerRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.log.warn({ file: this.path, err: (err as Error).message }, 'cannot read the peers file; starting without it');
      return [];
    }
    try {
      const { peers, dropped } = decodePeersFile(text, this.network);
      if (dropped > 0) this.log.warn({ file: this.path, dropped }, 'peers file: records that do not fit the format were dropped');
      this.log.info({ file: this.path, peers: peers.length }, 'peers restored');
      this.lastWritten = text;
      return peers;
    } catch (err) {
      if (!(err instanceof PeersFileError)) throw err;
      const aside = `${this.path}.corrupt-${this.now()}`;
      try {
        await rename(this.path, aside);
        this.log.warn({ file: this.path, setAside: aside, reason: err.message }, 'peers file is corrupt or truncated; set aside, starting without it');
      } catch (renameErr) {
        this.log.warn({ file: this.path, reason: err.message, err: (renameErr as Error).message }, 'peers file is corrupt and could not be set aside; starting without it');
      }
      return [];
    }
  }

  /** Writes the peers when they differ from what the file holds; writes are serialized. */
  save(peers: Iterable<PeerRecord>): Promise<void> {
    const text = encodePeersFile(this.network, peers);
    this.writing = this.writing.then(async () => {
      if (text === this.lastWritten) return;
      const tmp = `${this.path}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, text, { mode: 0o644 });
        await rename(tmp, this.path);
        this.lastWritten = text;
      } catch (err) {
        this.log.warn({ file: this.path, err: (err as Error).message }, 'cannot write the peers file');
      }
    });
    return this.writing;
  }
}
