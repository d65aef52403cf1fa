// The access log file (`log.file`): appended to in whole lines, reopened at the same path on SIGUSR1 for logrotate.
import { closeSync, openSync } from 'node:fs';
import { BatchedFdDestination } from './logger.ts';

/** Created readable by the owner's group (log shippers), never by everyone. */
const MODE = 0o640;

export interface LogFile {
  readonly destination: BatchedFdDestination;
  readonly path: string;
  /**
   * Opens `path` again (a new file once logrotate renamed the old one) and moves writing there once the batch in
   * flight is done; the old descriptor is closed after its last line. Concurrent calls run one after another.
   */
  reopen(): Promise<void>;
  /** Writes what is buffered and closes the file (process exit). */
  close(): void;
}

/** Opens (creating, appending) the access log file. Throws the open error (ENOENT, EACCES) for the caller to report. */
export function openLogFile(path: string): LogFile {
  let fd = openSync(path, 'a', MODE);
  const destination = new BatchedFdDestination(fd);
  let chain: Promise<void> = Promise.resolve();
  const reopen = async (): Promise<void> => {
    const next = openSync(path, 'a', MODE);
    const old = await destination.switchTo(next);
    fd = next;
    closeSync(old);
  };
  return {
    destination,
    path,
    reopen() {
      chain = chain.then(reopen, reopen);
      return chain;
    },
    close() {
      destination.flushSync();
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    },
  };
}
