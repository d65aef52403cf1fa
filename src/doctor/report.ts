// Runs doctor end to end: probe the target, diagnose the facts, and hand back one report (what --json prints).
import { dnText } from './certs.ts';
import type { CertFacts } from './certs.ts';
import type { ClientCredential } from './credentials.ts';
import { allOk, diagnose } from './diagnose.ts';
import type { Check } from './diagnose.ts';
import { probe } from './probe.ts';
import type { HttpFacts, TlsFailure } from './probe.ts';
import type { StapledStatus } from './ocsp.ts';
import type { DoctorTarget } from './target.ts';

export interface DoctorOptions {
  target: DoctorTarget;
  /** PEM bundle to verify the server with, and how to name it in the report (`--ca ca.pem`). */
  ca?: { pem: string; label: string };
  credential?: ClientCredential;
  timeoutMs?: number;
  now?: Date;
}

/** The stable shape of `certgate doctor --json` (documented in docs/doctor.md). */
export interface DoctorReport {
  target: { host: string; port: number; servername: string | null; verifyName: string; path: string };
  ok: boolean;
  checks: Check[];
  facts: {
    connectError: string | null;
    tlsError: TlsFailure | null;
    protocol: string | null;
    cipher: string | null;
    alpn: string | null;
    serverChain: CertFacts[];
    serverVerified: boolean | null;
    verifyError: string | null;
    nameError: string | null;
    ocsp: StapledStatus | null;
    clientCertRequested: 'yes' | 'no' | 'unknown';
    acceptedCaNames: string[] | null;
    clientChain: CertFacts[];
    http: HttpFacts;
  };
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const facts = await probe({ target: o.target, ca: o.ca?.pem, credential: o.credential, timeoutMs: o.timeoutMs ?? 10_000 });
  const clientChain = o.credential?.chain ?? [];
  const checks = diagnose({
    target: o.target, facts, clientChain, caLabel: o.ca ? o.ca.label : 'the system store', now: o.now ?? new Date(),
  });
  const hs = facts.handshake;
  const t12 = facts.tls12;
  return {
    target: { host: o.target.host, port: o.target.port, servername: o.target.servername ?? null, verifyName: o.target.verifyName, path: o.target.path },
    ok: allOk(checks),
    checks,
    facts: {
      connectError: facts.connectError,
      tlsError: facts.handshakeError ?? facts.laterError,
      protocol: hs?.protocol ?? null,
      cipher: hs?.cipher ?? null,
      alpn: hs?.alpn ?? null,
      serverChain: hs?.serverChain ?? [],
      serverVerified: hs ? hs.verified : null,
      verifyError: hs?.verifyError ?? null,
      nameError: hs?.nameError ?? null,
      ocsp: hs?.ocsp ?? null,
      clientCertRequested: t12?.outcome === 'asked' ? 'yes' : t12?.outcome === 'not_asked' ? 'no' : 'unknown',
      acceptedCaNames: t12?.outcome === 'asked' ? t12.caNames.map((n) => dnText(n)) : null,
      clientChain,
      http: facts.http,
    },
  };
}
