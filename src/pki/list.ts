// Listing and finding certificates in a CA store: filters, SERIAL|NAME lookup, and the stable `cert list --json` shape.
import { PkiError } from '../core/errors.ts';
import { parseDuration } from '../core/duration.ts';
import { normalizeSerial } from './serial.ts';
import type { CaStore, CertProfile, CertRecord, ListFilter } from './store.ts';

/** Status as users see it: 'expired' is derived from notAfter for unrevoked certs (revoked wins over expired). */
export type DisplayStatus = 'valid' | 'revoked' | 'expired';

export const LIST_STATUSES = ['valid', 'revoked', 'expired'] as const;

/**
 * One entry of `cert list --json` (a top-level JSON array of these). Documented in docs/pki.md; scripts rely on the
 * keys, so only ever add keys, never rename or remove them. `cert show --json` prints a superset of this object.
 */
export interface ListEntryJson {
  serial: string;
  name: string;
  profile: CertProfile;
  subject: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  status: DisplayStatus;
  revokedAt: string | null;
  revocationReason: string | null;
  fingerprint: string;
  keyPath: string | null;
  issuedAt: string;
}

/** The keys of ListEntryJson in output order (pinned by a test). */
export const LIST_ENTRY_KEYS = ['serial', 'name', 'profile', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt',
  'revocationReason', 'fingerprint', 'keyPath', 'issuedAt'] as const;

export function displayStatus(rec: Pick<CertRecord, 'status' | 'notAfter'>, now: Date): DisplayStatus {
  if (rec.status === 'revoked') return 'revoked';
  return Date.parse(rec.notAfter) < now.getTime() ? 'expired' : 'valid';
}

export function toListEntry(rec: CertRecord, now: Date): ListEntryJson {
  return {
    serial: rec.serial,
    name: rec.name,
    profile: rec.profile,
    subject: rec.subject,
    sans: rec.sans,
    notBefore: rec.notBefore,
    notAfter: rec.notAfter,
    status: displayStatus(rec, now),
    revokedAt: rec.revokedAt,
    revocationReason: rec.revocationReason,
    fingerprint: rec.fingerprint,
    keyPath: rec.keyPath,
    issuedAt: rec.issuedAt,
  };
}

export interface ListOptions {
  status?: string;
  /** A duration such as "30d" or "12h". */
  expiring?: string;
}

/** Turns `--status` / `--expiring` into a store filter; CG_USAGE names the bad flag. */
export function parseListFilter(opts: ListOptions, now: Date): ListFilter {
  const filter: ListFilter = { now };
  if (opts.status !== undefined) {
    const s = opts.status.trim().toLowerCase();
    if (!(LIST_STATUSES as readonly string[]).includes(s)) {
      throw new PkiError('CG_USAGE', `--status must be one of ${LIST_STATUSES.join(', ')}, got "${opts.status}"`);
    }
    filter.status = s as DisplayStatus;
  }
  if (opts.expiring !== undefined) {
    const ms = parseDuration(opts.expiring);
    if (ms === undefined || ms <= 0) {
      throw new PkiError('CG_USAGE', `--expiring needs a duration such as 30d, 12h or 90m, got "${opts.expiring}"`);
    }
    if (filter.status && filter.status !== 'valid') {
      throw new PkiError('CG_USAGE', `--expiring lists certificates that are still valid; it cannot be combined with --status ${filter.status}`);
    }
    filter.expiringWithinMs = ms;
  }
  return filter;
}

/** Runs the filter; with --expiring the soonest to expire come first, otherwise issue order. */
export function listCertificates(store: CaStore, filter: ListFilter): CertRecord[] {
  const rows = store.list(filter);
  if (filter.expiringWithinMs !== undefined) rows.sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
  return rows;
}

/** Everything a SERIAL|NAME argument could mean in this CA. */
export interface CertMatches {
  bySerial: CertRecord | undefined;
  byName: CertRecord[];
}

export function lookupCert(store: CaStore, ref: string): CertMatches {
  const bySerial = normalizeSerial(ref) === undefined ? undefined : store.getBySerial(ref);
  return { bySerial, byName: bySerial ? [] : store.findByName(ref) };
}

function ambiguous(ref: string, recs: CertRecord[], now: Date, hint = 'pass the serial number instead'): PkiError {
  const list = recs.map((r) => `${r.serial} (${displayStatus(r, now)}, until ${r.notAfter.slice(0, 10)})`).join(', ');
  return new PkiError('CG_PKI_AMBIGUOUS', `"${ref}" names ${recs.length} certificates: ${list}`, { hint });
}

function notFound(ref: string): PkiError {
  return new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate with serial number or name "${ref}" in this CA`, {
    hint: 'see `certgate cert list`',
  });
}

/** For show/export: the one certificate SERIAL|NAME means; CG_PKI_AMBIGUOUS when a name has several. */
export function resolveCert(store: CaStore, ref: string, now = new Date()): CertRecord {
  const { bySerial, byName } = lookupCert(store, ref);
  if (bySerial) return bySerial;
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) throw ambiguous(ref, byName, now);
  throw notFound(ref);
}

/**
 * For revoke: a name picks among its certificates that are not revoked yet (a renewed name keeps its old cert until
 * it expires, so prefer the unexpired one). All revoked → CG_PKI_ALREADY_REVOKED; still several → CG_PKI_AMBIGUOUS.
 * Returns undefined when nothing matches, so the caller can decide about foreign serials.
 */
export function resolveForRevoke(store: CaStore, ref: string, now = new Date()): CertRecord | undefined {
  const { bySerial, byName } = lookupCert(store, ref);
  if (bySerial) return bySerial;
  if (byName.length === 0) return undefined;
  let candidates = byName.filter((r) => r.status !== 'revoked');
  if (candidates.length === 0) {
    const last = byName[byName.length - 1];
    throw new PkiError('CG_PKI_ALREADY_REVOKED', `every certificate named "${ref}" is already revoked (latest: ${last.serial} at ${last.revokedAt})`);
  }
  if (candidates.length > 1) {
    const unexpired = candidates.filter((r) => displayStatus(r, now) === 'valid');
    if (unexpired.length >= 1) candidates = unexpired;
  }
  if (candidates.length > 1) throw ambiguous(ref, candidates, now, 'pass the serial number instead, or --all to revoke every one of them');
  return candidates[0];
}

/** The readable table for `cert list`: one line per certificate, fixed columns, subject last (it varies most). */
export function formatListTable(rows: CertRecord[], now: Date): string {
  if (rows.length === 0) return 'no certificates match';
  const head = ['SERIAL', 'NAME', 'PROFILE', 'STATUS', 'NOT AFTER', 'SUBJECT'];
  const cells = rows.map((r) => [r.serial, r.name || '-', r.profile, displayStatus(r, now), r.notAfter.replace(/\.\d{3}Z$/, 'Z'), r.subject || '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}
