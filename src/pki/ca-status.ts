// A CA's health for `ca status`: its own expiry, its CRL's nextUpdate and number, its certificates counted by status.
import { existsSync, readFileSync } from 'node:fs';
import { loadCa } from './ca.ts';
import { caPaths } from './ca-dir.ts';
import { parseCrl } from './crl.ts';
import { listCertificates } from './list.ts';
import { CaStore } from './store.ts';

/** Where something stands against the alert window. */
export type ExpiryState = 'valid' | 'expiring' | 'expired' | 'notYetValid';

/**
 * `ca status --json`. Documented in docs/pki.md; scripts rely on it, so only ever add keys. Every count is what the
 * matching `cert list` prints: `valid` = `--status valid` (which includes the expiring ones), `expiring` =
 * `--expiring WINDOW`, `revoked` = `--status revoked`, `expired` = `--status expired`.
 */
export interface CaStatus {
  dir: string;
  /** ISO 8601 UTC: the moment everything was judged at. */
  checkedAt: string;
  /** The alert window as given, e.g. "30d". */
  window: string;
  ca: { subject: string; notBefore: string; notAfter: string; state: ExpiryState };
  /** DIR/crl.pem; null when it is missing. */
  crl: {
    path: string;
    crlNumber: number | null;
    thisUpdate: string;
    nextUpdate: string | null;
    /** Revoked serials it lists. */
    entries: number;
    state: Exclude<ExpiryState, 'notYetValid'>;
  } | null;
  certificates: { valid: number; expiring: number; revoked: number; expired: number };
  /** One sentence per thing that needs doing within the window; `--fail-if-any` exits 1 when this is not empty. */
  attention: string[];
}

export interface CaStatusOptions {
  /** The window as the user wrote it (shown back), and in milliseconds (parseListFilter checks it). */
  window: string;
  windowMs: number;
  now?: Date;
}

const day = (d: Date | string) => new Date(d).toISOString().slice(0, 10);

/**
 * A CRL is re-signed long before it lapses (`certgate crl` daily for a 7-day CRL), so judging it by a 30-day window
 * would alert every day. Its window is therefore at most half its lifetime: a 7-day CRL alerts once it is 3.5 days
 * old, i.e. when renewal has failed several times, and a 1-day CRL after 12 hours.
 */
export function crlWindowMs(thisUpdate: Date, nextUpdate: Date, windowMs: number): number {
  return Math.min(windowMs, (nextUpdate.getTime() - thisUpdate.getTime()) / 2);
}

/** Judges DIR's CA at `now` (no key, no passphrase: it reads ca.crt, crl.pem and certgate.db). CG_PKI_NO_CA when none. */
export function caStatus(dir: string, o: CaStatusOptions): CaStatus {
  const now = o.now ?? new Date();
  const ca = loadCa(dir);
  const attention: string[] = [];

  const { notBefore, notAfter } = ca.cert;
  let caState: ExpiryState = 'valid';
  if (now < notBefore) caState = 'notYetValid';
  else if (now > notAfter) caState = 'expired';
  else if (notAfter.getTime() - now.getTime() <= o.windowMs) caState = 'expiring';
  if (caState === 'expired') attention.push(`the CA certificate expired on ${day(notAfter)}: it signs nothing; create a new CA and reissue`);
  if (caState === 'notYetValid') attention.push(`the CA certificate is not valid before ${notBefore.toISOString()}: check this machine's clock`);
  if (caState === 'expiring') attention.push(`the CA certificate expires on ${day(notAfter)}, within ${o.window}: plan a new CA and reissue before then`);

  const crlPath = caPaths(dir).crl;
  let crl: CaStatus['crl'] = null;
  if (!existsSync(crlPath)) {
    attention.push(`${crlPath} is missing: verifiers that check CRLs refuse every client; write it with \`certgate crl --dir ${dir}\``);
  } else {
    const parsed = parseCrl(readFileSync(crlPath, 'utf8'));
    let state: Exclude<ExpiryState, 'notYetValid'> = 'valid';
    if (parsed.nextUpdate) {
      const left = parsed.nextUpdate.getTime() - now.getTime();
      if (left < 0) state = 'expired';
      else if (left <= crlWindowMs(parsed.thisUpdate, parsed.nextUpdate, o.windowMs)) state = 'expiring';
      const next = parsed.nextUpdate.toISOString();
      if (state === 'expired') attention.push(`the CRL expired at ${next}: verifiers refuse every client until \`certgate crl --dir ${dir}\` runs`);
      if (state === 'expiring') attention.push(`the CRL expires at ${next} and has not been renewed: run \`certgate crl --dir ${dir}\` (daily, from cron)`);
    }
    crl = {
      path: crlPath,
      crlNumber: parsed.crlNumber === undefined ? null : Number(parsed.crlNumber),
      thisUpdate: parsed.thisUpdate.toISOString(),
      nextUpdate: parsed.nextUpdate ? parsed.nextUpdate.toISOString() : null,
      entries: parsed.entries.length,
      state,
    };
  }

  const store = CaStore.open(dir);
  let certificates: CaStatus['certificates'];
  try {
    // the same filters `cert list` runs, so each count matches what that listing shows
    const count = (status: 'valid' | 'revoked' | 'expired') => store.list({ status, now }).length;
    const expiring = listCertificates(store, { now, expiringWithinMs: o.windowMs });
    certificates = { valid: count('valid'), expiring: expiring.length, revoked: count('revoked'), expired: count('expired') };
    if (expiring.length > 0) {
      const names = expiring.slice(0, 5).map((r) => `${r.name || r.serial} (${day(r.notAfter)})`).join(', ');
      const more = expiring.length > 5 ? ` and ${expiring.length - 5} more` : '';
      const what = expiring.length === 1 ? '1 certificate expires' : `${expiring.length} certificates expire`;
      attention.push(`${what} within ${o.window}: ${names}${more}; renew with \`certgate cert renew NAME --dir ${dir}\``);
    }
  } finally {
    store.close();
  }

  return {
    dir,
    checkedAt: now.toISOString(),
    window: o.window,
    ca: { subject: ca.cert.subject, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), state: caState },
    crl,
    certificates,
    attention,
  };
}
