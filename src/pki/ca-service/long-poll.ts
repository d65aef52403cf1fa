// The requests `ca serve` holds (long-poll): a bounded set, each released on change, on its own timeout or at close.

export type ReleaseReason = 'changed' | 'timeout' | 'closing' | 'gone';

interface Held {
  key: string;
  etag: string;
  timer: NodeJS.Timeout;
  release: (why: ReleaseReason) => void;
}

/**
 * Held requests, keyed by what they wait on ("<ca>:<file>"). Owned by one CA service: created with it, and
 * `closeAll()` at its close answers every waiter, so no timer or socket outlives the service.
 */
export class LongPollRegistry {
  readonly max: number;
  readonly #byKey = new Map<string, Set<Held>>();
  #size = 0;
  #closed = false;

  constructor(max: number) {
    this.max = max;
  }

  /** Requests being held now. */
  get size(): number {
    return this.#size;
  }

  /**
   * Holds a request waiting for `key` to stop having `etag`, at most `waitMs`. `onRelease` runs exactly once.
   * Returns undefined, holding nothing, when the registry is full or closed: the caller answers 503.
   * The returned cancel() drops the waiter without calling onRelease with anything but 'gone' (client went away).
   */
  hold(key: string, etag: string, waitMs: number, onRelease: (why: ReleaseReason) => void): (() => void) | undefined {
    if (this.#closed || this.#size >= this.max) return undefined;
    let done = false;
    const held: Held = {
      key,
      etag,
      timer: setTimeout(() => held.release('timeout'), waitMs),
      release: (why) => {
        if (done) return;
        done = true;
        clearTimeout(held.timer);
        const set = this.#byKey.get(key);
        set?.delete(held);
        if (set && set.size === 0) this.#byKey.delete(key);
        this.#size--;
        onRelease(why);
      },
    };
    let set = this.#byKey.get(key);
    if (!set) this.#byKey.set(key, (set = new Set()));
    set.add(held);
    this.#size++;
    return () => held.release('gone');
  }

  /** Releases ('changed') every waiter on `key` whose ETag differs from `currentEtag`. */
  changed(key: string, currentEtag: string): number {
    const set = this.#byKey.get(key);
    if (!set) return 0;
    let n = 0;
    for (const held of [...set]) {
      if (held.etag !== currentEtag) {
        held.release('changed');
        n++;
      }
    }
    return n;
  }

  /** Answers every waiter ('closing') and refuses new ones. */
  closeAll(): void {
    this.#closed = true;
    for (const set of [...this.#byKey.values()]) for (const held of [...set]) held.release('closing');
  }
}
