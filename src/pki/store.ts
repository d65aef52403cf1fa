// The CA's SQLite store (node:sqlite): issued certificates, revocations, CRL number, metadata and the audit log.
import { DatabaseSync } from 'node:sqlite';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { certificateSerial, normalizeSerial } from './serial.ts';

export type CertStatus = 'valid' | 'revoked'; // 'expired' is derived from notAfter at read time
export type CertProfile = 'client' | 'server' | 'ca' | 'external'; // external = recorded serial certgate did not issue

/** One certificate this CA issued (or a foreign serial it revoked). The shape `cert list --json` builds on. */
export interface CertRecord {
  /** Canonical serial: uppercase hex of the DER INTEGER, no colons; a negative one as "-7EDC…" (see serialFromContent). */
  serial: string;
  /** The NAME given at issue time ('' for external). */
  name: string;
  /** RFC 4514 string as @peculiar/x509 Name.toString() prints it. */
  subject: string;
  /** "DNS:x", "IP:x", "email:x", "URI:x". */
  sans: string[];
  profile: CertProfile;
  /** ISO 8601 UTC. */
  notBefore: string;
  notAfter: string;
  status: CertStatus;
  revokedAt: string | null;
  /** RFC 5280 reason name, e.g. "keyCompromise". */
  revocationReason: string | null;
  /** sha256 of the DER, lowercase hex, no colons. */
  fingerprint: string;
  /** null for external. */
  pem: string | null;
  /** Relative path of the generated key file under DIR, or null. */
  keyPath: string | null;
  issuedAt: string;
}

export interface ListFilter {
  status?: 'valid' | 'revoked' | 'expired';
  /** Only unrevoked, unexpired certs whose notAfter is within this many ms of `now`. */
  expiringWithinMs?: number;
  now?: Date;
}

export interface AuditEntry {
  id: number;
  at: string;
  operation: string;
  detail: Record<string, unknown>;
}

export const DB_FILE = 'certgate.db';

/** One schema step: SQL, or a data repair that runs inside the migration transaction. */
type Migration = string | ((db: DatabaseSync, store: CaStore) => void);

/**
 * Older certgate read serials through @peculiar/x509's serialNumber text, which drops the sign: a negative
 * serial (an imported CA's certificate revoked by FILE) was recorded, and published in the CRL, as a positive number
 * no certificate has. Re-derive each serial from the stored certificate; when one changes, a CRL is owed (a number
 * taken, nothing written), so the next run that holds the CA key republishes.
 */
function repairSignedSerials(db: DatabaseSync, store: CaStore): void {
  const rows = db.prepare('SELECT serial, pem FROM certs WHERE pem IS NOT NULL').all() as Row[];
  let changed = 0;
  for (const row of rows) {
    let serial: string;
    try {
      serial = certificateSerial(new x509.X509Certificate(String(row.pem)));
    } catch {
      continue; // not ours to judge here: `cert show` reports a PEM that does not parse
    }
    if (serial === row.serial || db.prepare('SELECT 1 FROM certs WHERE serial = ?').get(serial)) continue;
    db.prepare('UPDATE certs SET serial = ? WHERE serial = ?').run(serial, String(row.serial));
    store.audit('store.repair-serial', { from: String(row.serial), to: serial });
    changed++;
  }
  if (changed > 0) store.nextCrlNumber();
}

// Each entry moves the schema one version forward; never edit a shipped entry, append a new one.
const MIGRATIONS: Migration[] = [
  `CREATE TABLE certs (
     serial TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     subject TEXT NOT NULL,
     sans TEXT NOT NULL,
     profile TEXT NOT NULL CHECK (profile IN ('client','server','ca','external')),
     not_before TEXT NOT NULL,
     not_after TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('valid','revoked')),
     revoked_at TEXT,
     revocation_reason TEXT,
     fingerprint TEXT NOT NULL,
     pem TEXT,
     key_path TEXT,
     issued_at TEXT NOT NULL
   ) STRICT;
   CREATE INDEX certs_name ON certs(name);
   CREATE INDEX certs_not_after ON certs(not_after);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     operation TEXT NOT NULL,
     detail TEXT NOT NULL
   ) STRICT;`,
  repairSignedSerials,
];

type Row = Record<string, unknown>;

function iso(text: string): string {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new PkiError('CG_PKI_STORE', `invalid timestamp "${text}" for the CA store`);
  return d.toISOString();
}

function toRecord(row: Row): CertRecord {
  return {
    serial: String(row.serial),
    name: String(row.name),
    subject: String(row.subject),
    sans: JSON.parse(String(row.sans)) as string[],
    profile: row.profile as CertProfile,
    notBefore: String(row.not_before),
    notAfter: String(row.not_after),
    status: row.status as CertStatus,
    revokedAt: row.revoked_at == null ? null : String(row.revoked_at),
    revocationReason: row.revocation_reason == null ? null : String(row.revocation_reason),
    fingerprint: String(row.fingerprint),
    pem: row.pem == null ? null : String(row.pem),
    keyPath: row.key_path == null ? null : String(row.key_path),
    issuedAt: String(row.issued_at),
  };
}

function canonicalSerial(serial: string): string {
  const s = normalizeSerial(serial);
  if (s === undefined) throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `"${serial}" is not a hexadecimal serial number`);
  return s;
}

export class CaStore {
  readonly path: string;
  #db: DatabaseSync;
  #depth = 0;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /** Opens or creates DIR/certgate.db: WAL, busy timeout 15 s (concurrent CLI runs wait, not fail), foreign keys. */
  static open(dir: string): CaStore {
    if (!existsSync(dir)) throw new PkiError('CG_PKI_NO_CA', `CA directory ${dir} does not exist`);
    const path = join(dir, DB_FILE);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout: 15_000, enableForeignKeyConstraints: true });
      db.exec('PRAGMA busy_timeout = 15000');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
    } catch (err) {
      throw new PkiError('CG_PKI_STORE', `cannot open the CA database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const store = new CaStore(path, db);
    try {
      store.#migrate();
    } catch (err) {
      db.close();
      if (err instanceof PkiError) throw err;
      throw new PkiError('CG_PKI_STORE', `the CA database ${path} is damaged: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  #schemaVersion(): number {
    return Number((this.#db.prepare('PRAGMA user_version').get() as Row).user_version);
  }

  #migrate(): void {
    // an up-to-date store is only read: opening it then takes no write lock, so concurrent runs do not queue on it
    if (this.#schemaVersion() === MIGRATIONS.length) return;
    this.transaction(() => {
      const version = this.#schemaVersion();
      if (version > MIGRATIONS.length) {
        throw new PkiError('CG_PKI_STORE', `the CA database ${this.path} was written by a newer certgate (schema ${version})`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        const step = MIGRATIONS[v];
        if (typeof step === 'string') this.#db.exec(step);
        else step(this.#db, this);
      }
      if (version !== MIGRATIONS.length) this.#db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Runs fn inside BEGIN IMMEDIATE … COMMIT (ROLLBACK on throw). Nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T {
    if (this.#depth > 0) {
      this.#depth++;
      try {
        return fn();
      } finally {
        this.#depth--;
      }
    }
    this.#db.exec('BEGIN IMMEDIATE');
    this.#depth = 1;
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('CaStore.transaction: fn must be synchronous');
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    } finally {
      this.#depth = 0;
    }
  }

  insertCert(rec: CertRecord): void {
    const serial = canonicalSerial(rec.serial);
    try {
      this.#db
        .prepare(
          `INSERT INTO certs (serial, name, subject, sans, profile, not_before, not_after, status, revoked_at,
             revocation_reason, fingerprint, pem, key_path, issued_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(serial, rec.name, rec.subject, JSON.stringify(rec.sans), rec.profile, iso(rec.notBefore), iso(rec.notAfter),
          rec.status, rec.revokedAt === null ? null : iso(rec.revokedAt), rec.revocationReason, rec.fingerprint.toLowerCase(),
          rec.pem, rec.keyPath, iso(rec.issuedAt));
    } catch (err) {
      if (/UNIQUE constraint failed/.test((err as Error).message)) {
        throw new PkiError('CG_PKI_STORE', `serial ${serial} is already recorded in this CA`, { cause: err });
      }
      throw err;
    }
  }

  /** Serial is compared normalized: case, colons and leading zeros do not matter. */
  getBySerial(serial: string): CertRecord | undefined {
    const s = normalizeSerial(serial);
    if (s === undefined) return undefined;
    const row = this.#db.prepare('SELECT * FROM certs WHERE serial = ?').get(s) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Every certificate issued under NAME, oldest first, whatever its status. */
  findByName(name: string): CertRecord[] {
    return (this.#db.prepare('SELECT * FROM certs WHERE name = ? ORDER BY issued_at, serial').all(name) as Row[]).map(toRecord);
  }

  list(filter: ListFilter = {}): CertRecord[] {
    const now = (filter.now ?? new Date()).toISOString();
    const where: string[] = [];
    const args: string[] = [];
    if (filter.status === 'revoked') where.push("status = 'revoked'");
    if (filter.status === 'valid') {
      where.push("status = 'valid'", 'not_after >= ?');
      args.push(now);
    }
    if (filter.status === 'expired') {
      where.push("status = 'valid'", 'not_after < ?');
      args.push(now);
    }
    if (filter.expiringWithinMs !== undefined) {
      const until = new Date(Date.parse(now) + filter.expiringWithinMs).toISOString();
      where.push("status = 'valid'", 'not_after >= ?', 'not_after <= ?');
      args.push(now, until);
    }
    const sql = `SELECT * FROM certs${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY issued_at, serial`;
    return (this.#db.prepare(sql).all(...args) as Row[]).map(toRecord);
  }

  /** CG_PKI_SERIAL_NOT_FOUND for an unknown serial, CG_PKI_ALREADY_REVOKED when already revoked. */
  markRevoked(serial: string, reason: string, at: Date): void {
    const rec = this.getBySerial(serial);
    if (!rec) throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate with serial ${serial} in this CA`);
    if (rec.status === 'revoked') {
      throw new PkiError('CG_PKI_ALREADY_REVOKED', `certificate ${rec.serial} was already revoked at ${rec.revokedAt}`);
    }
    this.#db
      .prepare("UPDATE certs SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ?")
      .run(at.toISOString(), reason, rec.serial);
  }

  /** Increments and returns the stored CRL number (1 first). Call inside a transaction. */
  nextCrlNumber(): bigint {
    return this.transaction(() => {
      const next = BigInt(this.getMeta('crlNumber') ?? '0') + 1n;
      this.setMeta('crlNumber', next.toString());
      return next;
    });
  }

  /** Appends to the audit log. Never put secrets (passphrases, keys) in detail. */
  audit(operation: string, detail: Record<string, unknown>): void {
    this.#db
      .prepare('INSERT INTO audit (at, operation, detail) VALUES (?, ?, ?)')
      .run(new Date().toISOString(), operation, JSON.stringify(detail));
  }

  /** The audit log, oldest first. */
  auditLog(): AuditEntry[] {
    return (this.#db.prepare('SELECT * FROM audit ORDER BY id').all() as Row[]).map((r) => ({
      id: Number(r.id),
      at: String(r.at),
      operation: String(r.operation),
      detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
    }));
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return row ? String(row.value) : undefined;
  }

  setMeta(key: string, value: string): void {
    this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** `PRAGMA integrity_check` result ("ok" when healthy). */
  integrityCheck(): string {
    const rows = this.#db.prepare('PRAGMA integrity_check').all() as Row[];
    return rows.map((r) => String(Object.values(r)[0])).join('\n');
  }
}
