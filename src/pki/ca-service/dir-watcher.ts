// Notices new published files in a CA directory (another process's `cert revoke` / `crl`): fs.watch plus a 1 s poll.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { caPaths } from '../ca-dir.ts';
import { publishedSignature } from './published.ts';

/** How long after a file event the directory is looked at: publishers write crl.pem, then crl-bundle.pem. */
const SETTLE_MS = 25;

/**
 * Calls `onChange` once per change of the published files of `dir`. fs.watch gives the change within milliseconds;
 * the poll (every `pollMs`) catches what it misses (network file systems, an inotify limit reached). Owned by the CA
 * service: close() stops both; nothing else holds timers.
 */
export class DirWatcher {
  readonly #dir: string;
  readonly #onChange: () => void;
  readonly #pollMs: number;
  readonly #names: ReadonlySet<string>;
  #last: string;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;

  constructor(dir: string, onChange: () => void, pollMs = 1000) {
    this.#dir = dir;
    this.#onChange = onChange;
    this.#pollMs = pollMs;
    const p = caPaths(dir);
    this.#names = new Set([p.cert, p.chain, p.crl, p.crlBundle].map((f) => basename(f)));
    this.#last = publishedSignature(dir);
  }

  start(): void {
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
        if (name === null || this.#names.has(String(name))) this.#soon();
      });
      // a watcher that fails later (directory removed, too many watches) leaves the poll in charge
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      this.#watcher = undefined;
    }
    this.#poll = setInterval(() => this.check(), this.#pollMs);
    this.#poll.unref();
  }

  /** Compares the files with what was last seen; calls onChange when they differ. */
  check(): void {
    const now = publishedSignature(this.#dir);
    if (now === this.#last) return;
    this.#last = now;
    this.#onChange();
  }

  #soon(): void {
    if (this.#settle) return;
    this.#settle = setTimeout(() => {
      this.#settle = undefined;
      this.check();
    }, SETTLE_MS);
    this.#settle.unref();
  }

  close(): void {
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#settle);
  }
}
