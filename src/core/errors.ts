// The error catalog: every error certgate raises on purpose has a stable code and a message written for the user.

/**
 * Every code certgate can raise, with a one-line description for docs/errors.md.
 * Add new codes to the section of their area; tests match on codes, never on message text.
 */
export const ERROR_CODES = {
  // --- usage / cli
  CG_USAGE: 'A command-line flag or argument is missing, unknown or malformed.',
  CG_SECRET_REQUIRED: 'A passphrase or password is needed but none was given and there is no terminal to ask on.',
  CG_SECRET_SOURCE: 'A passphrase/password file or environment variable could not be read, or is empty.',
  CG_FILE_NOT_FOUND: 'A file or directory named on the command line or in the config does not exist.',
  CG_FILE_UNREADABLE: 'A file exists but could not be read.',
  CG_FILE_EXISTS: 'certgate refuses to overwrite an existing file or directory.',
  CG_FILE_UNWRITABLE: 'certgate cannot create a file where it was asked to (the directory is not writable).',
  CG_INTERNAL: 'An unexpected internal error (a bug): rerun with --debug and report it.',

  // --- config
  CG_CONFIG_SYNTAX: 'The YAML config does not parse.',
  CG_CONFIG_UNKNOWN_KEY: 'The config has a key certgate does not know (often a typo).',
  CG_CONFIG_INVALID: 'A config value has the wrong type or form.',
  CG_CONFIG_FILE: 'A file named in the config is missing, unreadable or of the wrong kind.',
  CG_CONFIG_TLS: 'A certificate, key, CA bundle or CRL in the config is inconsistent (key mismatch, chain, coverage).',

  // --- pki
  CG_PKI_NO_CA: 'The CA directory does not exist or holds no certgate CA.',
  CG_PKI_CA_EXISTS: 'A CA already exists in that directory.',
  CG_PKI_BAD_PASSPHRASE: 'The CA key could not be decrypted with the passphrase given.',
  CG_PKI_KEY_PERMISSIONS: 'A private key file is readable by group or others.',
  CG_PKI_KEY_TYPE: 'An unsupported key type or size.',
  CG_PKI_CA_EXPIRED: 'The CA certificate has expired (or is not yet valid) and cannot sign.',
  CG_PKI_VALIDITY: 'The requested validity is invalid or runs past the CA certificate.',
  CG_PKI_DUPLICATE_NAME: 'A valid certificate with that name already exists in this CA.',
  CG_PKI_SERIAL_NOT_FOUND: 'No certificate with that serial number or name is known to this CA.',
  CG_PKI_AMBIGUOUS: 'A name matches more than one certificate; use the serial number.',
  CG_PKI_ALREADY_REVOKED: 'The certificate is already revoked.',
  CG_PKI_BAD_CSR: 'The certificate signing request is malformed, has a bad signature or asks for something refused.',
  CG_PKI_BAD_CERT: 'A certificate file could not be parsed or is not what was expected.',
  CG_PKI_BAD_KEY: 'A private key file could not be parsed or does not match its certificate.',
  CG_PKI_PROFILE: 'The requested certificate profile is inconsistent (e.g. a server certificate without a SAN).',
  CG_PKI_NO_KEY: 'certgate does not hold the private key for that certificate.',
  CG_PKI_BAD_PASSWORD: 'A PKCS#12 password is empty or unusable.',
  CG_PKI_STORE: 'The CA database could not be opened or is damaged.',
  CG_PKI_PARENT_CRL: 'A parent CA has no current CRL, so the chain-wide CRL bundle (crl-bundle.pem) cannot be built.',
  CG_PKI_CRL_WRITE: 'crl.pem or crl-bundle.pem could not be written; the change is recorded and its CRL is owed until `certgate crl` succeeds.',
  CG_PKI_BAD_URL: 'A CA base URL (--url, `ca set-url`, DIR/base-url.txt) is not an absolute http(s) URL without query, fragment or user info.',
  CG_PKI_FAIL_IF_ANY: 'With --fail-if-any: `cert list` listed a certificate, or `ca status` found the CA, its CRL or a certificate expired or expiring within the window (printed before this line).',

  // --- ca serve
  CG_CA_SERVE_CONFLICT: '`certgate ca serve` cannot place every CA: two share a base path, a CA without a base URL is not alone, or a base path collides with /healthz or /metrics.',
  CG_CA_SERVE_LISTEN: '`certgate ca serve` could not listen on --listen or --metrics (in use, not permitted), or its TLS certificate/key is unusable.',

  // --- gateway
  CG_GATEWAY_LISTEN: 'The gateway could not listen on an address (in use, not permitted).',
  CG_GATEWAY_RELOAD: 'A configuration reload was refused; the gateway keeps its previous config.',
  CG_GATEWAY_UPSTREAM: 'An upstream URL or its TLS settings are unusable.',
  CG_CRL_UNAVAILABLE: 'A clientAuth.crl URL could not be fetched (or its CRL was refused) and there is no cached copy in stateDir and no fallback file.',
  CG_CRL_STATE: 'The gateway state directory (stateDir) for cached CRLs cannot be created or written.',
  CG_PIDFILE_IN_USE: 'The pidFile names a certgate process that is still running: another gateway uses this config.',
  CG_PIDFILE_WRITE: 'The pidFile could not be written (its directory is missing or not writable).',
  CG_RELOAD_NO_PROCESS: 'certgate reload found no running gateway to signal: no pidFile or --pid, a missing or stale pid file, or a process that is not certgate.',
  CG_RELOAD_DENIED: 'certgate reload may not signal the gateway process (it runs as another user).',

  // --- doctor
  CG_DOCTOR_FAILED: 'certgate doctor ran and at least one check failed (each is printed above this line, with a fix).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  /** What the user should do next, printed after the message. */
  hint?: string;
  cause?: unknown;
}

/** Base of every error certgate raises on purpose. `exitCode` 1 = the user's input, 2 = certgate's own fault. */
export class CertgateError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: 1 | 2 = 1;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** The one line shown to the user. */
  userLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** Bad input from the user: wrong flag, missing file, bad passphrase. Exit 1, no stack. */
export class UserError extends CertgateError {}

/** Position in a config file, 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** A config problem that points at file:line:column. */
export class ConfigError extends UserError {
  readonly position: SourcePosition | undefined;

  constructor(code: ErrorCode, message: string, position?: SourcePosition, options: ErrorOptions = {}) {
    super(code, message, options);
    this.position = position;
  }

  override userLine(): string {
    const where = this.position ? `${this.position.file}:${this.position.line}:${this.position.column}: ` : '';
    return where + super.userLine();
  }
}

/** A PKI problem (CA store, certificates, keys, CSRs, PKCS#12). */
export class PkiError extends UserError {}

/** A runtime gateway problem that the user can fix (address in use, bad upstream). */
export class GatewayError extends UserError {}

/** Something that should not happen: a bug. Exit 2. */
export class InternalError extends CertgateError {
  override readonly exitCode = 2 as const;
}

export function isCertgateError(err: unknown): err is CertgateError {
  return err instanceof CertgateError;
}
