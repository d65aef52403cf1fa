// Reloads: SIGHUP or a changed config file re-reads certgate.yaml (refused, with file:line:col, if it is bad: the
// old config keeps serving); a changed CA/CRL file re-reads trust (a new generation). One reload at a time.
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { isCertgateError } from '../core/errors.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Gateway } from './gateway.ts';
import type { Finding } from './preflight.ts';

export interface ReloadOptions {
  configPath: string;
  gateway: Gateway;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Reads and validates the config file (src/config/load.ts's loadConfigFile). */
  load: (path: string) => GatewayConfig;
  /** Gets a copy of every CRL URL the config names (crl-fetch.ts's prepare); returns a problem line per URL without one. */
  prepare?: (config: GatewayConfig) => Promise<string[]>;
  /** Checks the files the config names (src/gateway/preflight.ts's preflight). */
  preflight: (config: GatewayConfig) => Finding[];
  /** Stat-poll interval for the config, CA and CRL files; 0 disables watching. Default 1000 ms. */
  pollMs?: number;
}

export interface ReloadController {
  /** Re-reads the config; resolves true when the new one is in force, false when it was refused. */
  reloadConfig(why: string): Promise<boolean>;
  /** Starts watching the config file, every CA/CRL file and every other file the config reads (a change reloads). */
  watch(): void;
  /** Stops watching. */
  close(): void;
}

/** Logs warnings; returns the errors. */
export function logFindings(logger: Logger, findings: Finding[], event: string): Finding[] {
  for (const f of findings) {
    if (f.level === 'warn') logger.warn({ event, file: f.file }, f.message);
  }
  return findings.filter((f) => f.level === 'error');
}

/**
 * True when the path now names another file or changed content. `fs.watchFile` stats through symlinks, so a
 * Kubernetes volume update (the `..data` link swapped to a new directory) shows up as a new inode; mtime and size
 * may well be the same. ctime is compared too, as libuv's own poll does: a rewrite in place always moves it.
 */
export function replaced(cur: Stats, prev: Stats): boolean {
  return cur.ino !== prev.ino || cur.dev !== prev.dev || cur.size !== prev.size || cur.mtimeMs !== prev.mtimeMs || cur.ctimeMs !== prev.ctimeMs;
}

export function createReloadController(options: ReloadOptions): ReloadController {
  const { configPath, gateway, logger, metrics } = options;
  const pollMs = options.pollMs ?? 1000;
  let chain: Promise<unknown> = Promise.resolve();
  const trustWatched = new Set<string>();
  let trustTimer: NodeJS.Timeout | undefined;
  let materialTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const attempt = async (why: string): Promise<boolean> => {
    let next: GatewayConfig;
    try {
      next = options.load(configPath);
    } catch (err) {
      const message = isCertgateError(err) ? err.userLine() : (err as Error).message;
      metrics.reloads.inc({ result: 'refused' });
      logger.error({ event: 'config.reload_refused', why, file: configPath, code: isCertgateError(err) ? err.code : undefined }, `new config refused, the previous one keeps serving: ${message}`);
      return false;
    }
    const crlProblems = options.prepare ? await options.prepare(next) : [];
    if (crlProblems.length > 0) {
      metrics.reloads.inc({ result: 'refused' });
      logger.error({ event: 'config.reload_refused', why, file: configPath, findings: crlProblems }, `new config refused, the previous one keeps serving: ${crlProblems[0]}`);
      return false;
    }
    const errors = logFindings(logger, options.preflight(next), 'config.reload_warning');
    if (errors.length > 0) {
      metrics.reloads.inc({ result: 'refused' });
      logger.error({ event: 'config.reload_refused', why, file: configPath, findings: errors.map((e) => `${e.file ?? configPath}: ${e.message}`) },
        `new config refused, the previous one keeps serving: ${errors[0].file ? `${errors[0].file}: ` : ''}${errors[0].message}`);
      return false;
    }
    try {
      await gateway.reload(next);
    } catch (err) {
      const message = isCertgateError(err) ? err.userLine() : (err as Error).message;
      metrics.reloads.inc({ result: 'refused' });
      logger.error({ event: 'config.reload_refused', why, file: configPath }, `new config refused, the previous one keeps serving: ${message}`);
      return false;
    }
    metrics.reloads.inc({ result: 'ok' });
    logger.info({ event: 'config.reloaded', why, file: configPath }, 'configuration reloaded');
    rewatch();
    return true;
  };

  const onConfigChange = (cur: Stats, prev: Stats) => {
    if (!replaced(cur, prev)) return;
    void controller.reloadConfig('config file changed');
  };

  const onTrustChange = (cur: Stats, prev: Stats) => {
    if (!replaced(cur, prev)) return;
    // a CRL is often written as several files in a row (crl.pem, crl-bundle.pem): settle first
    clearTimeout(trustTimer);
    trustTimer = setTimeout(() => {
      chain = chain.then(() => gateway.reloadTrust());
    }, Math.min(pollMs, 200));
    trustTimer.unref();
  };

  // a certificate and its key are replaced one after the other: settle, then reload the whole config once
  const changedMaterial = new Set<string>();
  // A volume swap gives every file of it a new inode, changed or not: only a file whose bytes differ reloads.
  const digests = new Map<string, string>();
  const digestOf = (file: string): string => {
    try {
      return createHash('sha256').update(readFileSync(file)).digest('hex');
    } catch (err) {
      return `unreadable:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  };
  const onMaterialChange = (file: string) => (cur: Stats, prev: Stats) => {
    if (!replaced(cur, prev)) return;
    const digest = digestOf(file);
    if (digest === digests.get(file)) return;
    digests.set(file, digest);
    changedMaterial.add(file);
    clearTimeout(materialTimer);
    materialTimer = setTimeout(() => {
      const files = [...changedMaterial];
      changedMaterial.clear();
      void controller.reloadConfig(`file changed: ${files.join(', ')}`);
    }, Math.min(pollMs, 300));
    materialTimer.unref();
  };
  const materialListeners = new Map<string, (cur: Stats, prev: Stats) => void>();

  let configWatched = false;
  const unwatchAll = () => {
    if (configWatched) unwatchFile(configPath, onConfigChange);
    configWatched = false;
    for (const f of trustWatched) unwatchFile(f, onTrustChange);
    trustWatched.clear();
    for (const [f, fn] of materialListeners) unwatchFile(f, fn);
    materialListeners.clear();
    digests.clear();
  };

  // Watchers that stay are never restarted: restarting one takes a new baseline, and a file replaced between the
  // reload's read and that baseline (a Kubernetes volume update landing mid-reload) would never be noticed.
  const rewatch = () => {
    if (closed || pollMs <= 0) return;
    if (!configWatched) {
      watchFile(configPath, { interval: pollMs, persistent: false }, onConfigChange);
      configWatched = true;
    }
    const wanted = new Set(gateway.crlFiles());
    for (const f of [...trustWatched]) {
      if (wanted.has(f)) continue;
      unwatchFile(f, onTrustChange);
      trustWatched.delete(f);
    }
    for (const f of wanted) {
      if (trustWatched.has(f)) continue;
      watchFile(f, { interval: pollMs, persistent: false }, onTrustChange);
      trustWatched.add(f);
    }
    const material = new Set(gateway.materialFiles());
    for (const [f, fn] of [...materialListeners]) {
      if (material.has(f)) continue;
      unwatchFile(f, fn);
      materialListeners.delete(f);
      digests.delete(f);
    }
    for (const f of material) {
      if (materialListeners.has(f)) continue;
      digests.set(f, digestOf(f));
      const fn = onMaterialChange(f);
      watchFile(f, { interval: pollMs, persistent: false }, fn);
      materialListeners.set(f, fn);
    }
  };

  const controller: ReloadController = {
    reloadConfig(why) {
      const run = chain.then(() => attempt(why));
      chain = run.catch(() => undefined);
      return run;
    },
    watch: rewatch,
    close() {
      closed = true;
      clearTimeout(trustTimer);
      clearTimeout(materialTimer);
      unwatchAll();
    },
  };
  return controller;
}
