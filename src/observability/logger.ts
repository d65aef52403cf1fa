// The one pino logger factory, with certgate's central redaction (keys, passphrases, PEM bodies, credentials).
import pino from 'pino';
import type { Logger, DestinationStream, LoggerOptions } from 'pino';

export type { Logger };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LoggerSettings {
  level?: LogLevel;
  /** json: one JSON object per line (default); pretty: a short human-readable line, for terminals. */
  format?: 'json' | 'pretty';
  /** Where lines go. Default: stdout through an asynchronous sonic-boom buffer (flush with `flushLogger`). */
  destination?: DestinationStream;
}

/** Shown instead of anything redacted. */
export const REDACTED = '[redacted]';

/**
 * Field paths that are never logged, wherever a caller puts them. pino (fast-redact) matches these exactly;
 * the PEM scrub below catches key material that arrives inside other strings (error messages, config dumps).
 */
export const REDACT_PATHS: readonly string[] = [
  ...['key', 'passphrase', 'password', 'secret', 'privateKey', 'pfx', 'authorization', 'cookie'].flatMap((k) => [
    k,
    `*.${k}`,
    `*.*.${k}`,
  ]),
  ...['headers', 'req.headers', 'res.headers', 'request.headers', 'response.headers'].flatMap((h) => [
    `${h}.authorization`,
    `${h}.cookie`,
    `${h}["set-cookie"]`,
    `${h}["proxy-authorization"]`,
    `${h}["x-client-cert"]`,
  ]),
];

// A PEM block (also URL-escaped, as in X-Client-Cert) from BEGIN to END. Lazy, so two blocks stay two matches.
const PEM_BLOCK = /-----BEGIN[ %][\s\S]*?-----END[^-]*-----|-----BEGIN[ %][\s\S]*/g;

/** Replaces every PEM body in `text` (a private key in an error message, a certificate) with a marker. */
export function scrubPem(text: string): string {
  return text.includes('-----BEGIN') ? text.replace(PEM_BLOCK, '[PEM redacted]') : text;
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubPem(value);
  if (depth >= 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = scrubValue(value[i], depth + 1);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  if (value instanceof Error) return value; // pino's err serializer runs later; messages are scrubbed there
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(value)) {
    const v0 = (value as Record<string, unknown>)[k];
    const v = scrubValue(v0, depth + 1);
    if (v !== v0) (out ??= { ...(value as Record<string, unknown>) })[k] = v;
  }
  return out ?? value;
}

function errSerializer(err: unknown): unknown {
  const s = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  return scrubValue(s, 0);
}

/** Creates the process logger. No global state: the caller owns the returned logger. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    serializers: { err: errSerializer, error: errSerializer },
    formatters: {
      level: (label) => ({ level: label }),
      // Copy-on-write: objects without PEM text pass through untouched (the access line hot path).
      log: (obj) => scrubValue(obj, 0) as Record<string, unknown>,
    },
    hooks: {
      // Messages are strings callers build; scrub them too.
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) {
          if (typeof args[i] === 'string') args[i] = scrubPem(args[i] as string);
        }
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  };
  let destination = settings.destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 });
  if (settings.format === 'pretty') destination = prettyStream(destination);
  return pino(options, destination);
}

/** Flushes buffered lines (call before the process exits). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}

const SKIP = new Set(['time', 'level', 'msg', 'event']);

// A terminal-friendly rendering of the JSON line: "time LEVEL event msg k=v ...". Values are already redacted.
function prettyStream(target: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line);
      } catch {
        target.write(line);
        return;
      }
      const parts = [String(obj.time ?? ''), String(obj.level ?? '').toUpperCase().padEnd(5)];
      if (obj.event) parts.push(String(obj.event));
      if (obj.msg) parts.push(String(obj.msg));
      for (const [k, v] of Object.entries(obj)) {
        if (SKIP.has(k) || v === undefined || v === null || v === '') continue;
        parts.push(`${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      }
      target.write(parts.join(' ') + '\n');
    },
    flush(cb?: (err?: Error) => void): void {
      const t = target as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
      if (typeof t.flush === 'function') t.flush(cb);
      else cb?.();
    },
  } as DestinationStream;
}
