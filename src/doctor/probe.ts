// Connects to the target the way a client would and records what happened: TCP, TLS, the server's chain and
// names, stapled OCSP, the server's verdict on our certificate and the HTTP answer to GET. Facts only, no judgement.
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect, checkServerIdentity } from 'node:tls';
import type { ConnectionOptions, DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { http } from '../core/node-http.ts';
import type { IncomingMessage } from 'node:http';
import { certFacts } from './certs.ts';
import type { CertFacts } from './certs.ts';
import type { ClientCredential } from './credentials.ts';
import { stapledStatus } from './ocsp.ts';
import type { StapledStatus } from './ocsp.ts';
import type { DoctorTarget } from './target.ts';
import { probeTls12 } from './tls12-probe.ts';
import type { Tls12Request } from './tls12-probe.ts';

export interface ProbeOptions {
  target: DoctorTarget;
  /** PEM CA bundle to verify the server with; undefined: the system store (Node's bundled roots). */
  ca?: string;
  credential?: ClientCredential;
  /** Limit for each network step (connect, handshake, HTTP answer). */
  timeoutMs: number;
}

/** A TLS error as Node reported it, with the alert the server sent when there was one (`certificate_required`). */
export interface TlsFailure {
  code: string;
  message: string;
  alert: string | null;
}

export interface HandshakeFacts {
  protocol: string | null;
  cipher: string | null;
  alpn: string | null;
  /** The chain the server sent, leaf first. */
  serverChain: CertFacts[];
  /** Whether the chain verified against the CA given (or the system store), and OpenSSL's error name if not. */
  verified: boolean;
  verifyError: string | null;
  /** Why the leaf does not carry the expected name (Node's checkServerIdentity), or null when it does. */
  nameError: string | null;
  ocsp: StapledStatus;
}

export type HttpFacts =
  | {
    outcome: 'answered'; status: number; server: string | null; certgateReason: string | null; certgateMessage: string | null;
    /** nginx completes a TLS 1.3 handshake and answers 400 to a certificate it refuses (or a missing one). */
    nginxRefusal: 'no_certificate' | 'certificate_error' | null;
  }
  | { outcome: 'failed'; message: string }
  | { outcome: 'skipped'; why: string };

export interface ProbeFacts {
  /** TCP-level failure (ECONNREFUSED, ETIMEDOUT, ENOTFOUND), or null once connected. */
  connectError: string | null;
  /** The handshake failed (before it completed on our side). */
  handshakeError: TlsFailure | null;
  handshake: HandshakeFacts | null;
  /** The server refused after our side finished the handshake (TLS 1.3 reports client-certificate refusals so). */
  laterError: TlsFailure | null;
  tls12: Tls12Request | null;
  http: HttpFacts;
  /** Whether we presented a certificate. */
  sentCertificate: boolean;
}

const MAX_BODY = 64 * 1024;

/** The TLS alert named in one of Node's OpenSSL error codes (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`). */
export function alertOf(code: string, message: string): string | null {
  const m = /_ALERT_([A-Z_]+)$/.exec(code);
  if (m) return m[1].toLowerCase();
  const n = /alert number (\d+)/.exec(message);
  return n ? `alert_${n[1]}` : null;
}

function tlsFailure(err: NodeJS.ErrnoException): TlsFailure {
  const code = err.code ?? 'ERR_UNKNOWN';
  return { code, message: err.message, alert: alertOf(code, err.message) };
}

function decodeEntities(text: string): string {
  return text.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** nginx's own 400 pages for `ssl_verify_client on`: "No required SSL certificate was sent", "The SSL certificate error". */
export function nginxRefusal(status: number, body: string): 'no_certificate' | 'certificate_error' | null {
  if (status !== 400) return null;
  if (body.includes('No required SSL certificate was sent')) return 'no_certificate';
  if (body.includes('The SSL certificate error')) return 'certificate_error';
  return null;
}

/** A certgate error page carries `Reason: <code>reason</code>` and the reason's text in the first paragraph. */
export function certgateRefusal(body: string): { reason: string; message: string | null } | null {
  const reason = /Reason:\s*<code>([a-z_]+)<\/code>/.exec(body);
  if (!reason) return null;
  const message = /<p>([^<]+)<\/p>/.exec(body);
  return { reason: reason[1], message: message ? decodeEntities(message[1]).trim() : null };
}

function chainOf(socket: TLSSocket): CertFacts[] {
  const chain: CertFacts[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256) && chain.length < 10) {
    seen.add(cert.fingerprint256);
    chain.push(certFacts(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no TCP connection within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // from here on the TLS socket on top reports failures; an unheard 'error' would crash the process
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

function handshake(raw: Socket, o: ProbeOptions): Promise<{ socket: TLSSocket; facts: HandshakeFacts } | TlsFailure> {
  return new Promise((resolve) => {
    let ocsp: Buffer | null = null;
    const options: ConnectionOptions = {
      socket: raw,
      servername: o.target.servername,
      rejectUnauthorized: false,
      requestOCSP: true,
      ALPNProtocols: ['http/1.1'],
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      ...(o.credential ? o.credential.tls : {}),
    };
    const socket = tlsConnect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ code: 'ETIMEDOUT', message: `no TLS handshake within ${o.timeoutMs} ms`, alert: null });
    }, o.timeoutMs);
    socket.on('OCSPResponse', (response: Buffer) => {
      ocsp = response;
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(tlsFailure(err));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      // later errors belong to whoever uses the socket next (the HTTP request, waitForRefusal); never unheard
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      const serverChain = chainOf(socket);
      // Node folds a name mismatch into authorizationError, but only once the chain itself verified
      const chainOk = socket.authorized || String(socket.authorizationError) === 'ERR_TLS_CERT_ALTNAME_INVALID';
      const peer = socket.getPeerCertificate();
      const nameError = peer && peer.raw ? checkServerIdentity(o.target.verifyName, peer)?.message ?? null : 'the server sent no certificate';
      const cipher = socket.getCipher();
      const alpn = socket.alpnProtocol;
      resolve({
        socket,
        facts: {
          protocol: socket.getProtocol(),
          cipher: cipher ? cipher.standardName ?? cipher.name : null,
          alpn: typeof alpn === 'string' ? alpn : null,
          serverChain,
          verified: chainOk,
          verifyError: chainOk ? null : String(socket.authorizationError ?? 'UNKNOWN'),
          nameError,
          ocsp: stapledStatus(ocsp),
        },
      });
    });
  });
}

/** GET path over the already-open TLS socket, so a refusal the server sends after the handshake lands here. */
function getOverSocket(socket: TLSSocket, o: ProbeOptions): Promise<{ http: HttpFacts; later: TlsFailure | null }> {
  return new Promise((resolve) => {
    const { target } = o;
    const hostHeader = (target.servername ?? (target.host.includes(':') ? `[${target.host}]` : target.host)) + (target.port === 443 ? '' : `:${target.port}`);
    let settled = false;
    const finish = (http: HttpFacts, later: TlsFailure | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ http, later });
    };
    const req = http.request({
      createConnection: () => socket,
      method: 'GET',
      path: target.path,
      headers: { host: hostHeader, 'user-agent': 'certgate-doctor', accept: '*/*', connection: 'close' },
    });
    const timer = setTimeout(() => finish({ outcome: 'failed', message: `no HTTP answer within ${o.timeoutMs} ms` }, null), o.timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (code.startsWith('ERR_SSL')) return finish({ outcome: 'failed', message: `the TLS connection failed: ${code}` }, tlsFailure(err));
      // a server that refuses our certificate after a TLS 1.3 handshake may just close (Node's own servers do)
      if (code === 'ECONNRESET' || code === 'EPIPE') {
        const message = 'the server closed the connection right after the handshake, without an answer';
        return finish({ outcome: 'failed', message }, { code, message, alert: null });
      }
      finish({ outcome: 'failed', message: `${code} ${err.message}`.trim() }, null);
    });
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const refusal = certgateRefusal(body);
        // a certgate gateway names its reason in a header too (a custom errorPage may leave it out of the body)
        const header = res.headers['x-certgate-reason'];
        const headerReason = typeof header === 'string' && /^[a-z_]+$/.test(header) ? header : null;
        finish({
          outcome: 'answered', status: res.statusCode ?? 0, server: (res.headers.server as string | undefined) ?? null,
          certgateReason: headerReason ?? refusal?.reason ?? null, certgateMessage: refusal?.message ?? null,
          nginxRefusal: nginxRefusal(res.statusCode ?? 0, body),
        }, null);
      };
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY) chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_BODY) done();
      });
      res.once('end', done);
      res.once('error', done);
      res.once('close', done);
    });
    req.end();
  });
}

/** Without HTTP: a server that refuses our certificate after the handshake says so within a moment. */
function waitForRefusal(socket: TLSSocket, ms: number): Promise<TlsFailure | null> {
  return new Promise((resolve) => {
    const finish = (f: TlsFailure | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(f);
    };
    const timer = setTimeout(() => finish(null), ms);
    socket.once('error', (err: NodeJS.ErrnoException) => finish(tlsFailure(err)));
    socket.on('data', () => finish(null));
    // Node's own servers refuse a certificate by closing right after the handshake, without an alert
    socket.once('end', () => finish({ code: 'ECONNRESET', message: 'the server closed the connection right after the handshake', alert: null }));
    socket.resume();
  });
}

/** Runs every probe against the target; never throws for network trouble (that is a fact to report). */
export async function probe(o: ProbeOptions): Promise<ProbeFacts> {
  const facts: ProbeFacts = {
    connectError: null, handshakeError: null, handshake: null, laterError: null, tls12: null,
    http: { outcome: 'skipped', why: 'no TLS connection' }, sentCertificate: o.credential !== undefined,
  };
  const raw = await connectTcp(o.target.host, o.target.port, o.timeoutMs);
  if (typeof raw === 'string') {
    facts.connectError = raw;
    return facts;
  }
  const hs = await handshake(raw, o);
  if ('code' in hs) {
    facts.handshakeError = hs;
  } else {
    facts.handshake = hs.facts;
    const speaksHttp = o.target.http === 'always' || hs.facts.alpn === 'http/1.1';
    if (speaksHttp) {
      const r = await getOverSocket(hs.socket, o);
      facts.http = r.http;
      facts.laterError = r.later;
    } else {
      facts.http = { outcome: 'skipped', why: 'the server did not offer HTTP by ALPN (give an https:// URL to probe HTTP anyway)' };
      facts.laterError = await waitForRefusal(hs.socket, Math.min(o.timeoutMs, 1500));
    }
  }
  facts.tls12 = await probeTls12(o.target.host, o.target.port, o.target.servername, o.timeoutMs);
  return facts;
}
