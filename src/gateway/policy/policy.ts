// Route authorization: allow/deny rules compiled once, evaluated per request against a VERIFIED identity only. Pure.
import { ConfigError } from '../../core/errors.ts';
import type { RuleConfig } from '../../config/schema.ts';
import { CidrSet, parseCidr, parseIp } from './cidr.ts';
import { parseDnKey, type DnKey } from '../identity/dn.ts';
import { formatIp, serialKeyOf, type ClientIdentity } from '../identity/identity.ts';
import type { ReasonCode } from './reasons.ts';

/** One compiled rule. `label` names it in logs and `explain`: "allow[1]: ou=ops". */
export interface CompiledRule {
  label: string;
  /** False only for a rule of sourceIp alone: it can admit a request without a certificate. */
  needsCert: boolean;
  matches(identity: ClientIdentity | null, sourceIp: string): boolean;
}

/** The compiled access policy of one route. `allow: null` means "any verified certificate". */
export interface CompiledPolicy {
  public: boolean;
  allow: CompiledRule[] | null;
  deny: CompiledRule[];
}

export interface AuthorizeRequest {
  /** The identity of a certificate that VERIFIED (chain, dates, purpose, revocation); null otherwise. */
  identity: ClientIdentity | null;
  /** Why there is no verified identity (no_certificate, expired, ...); null when the certificate verified. */
  verifyReason: ReasonCode | null;
  /** Client address as the socket reports it. */
  sourceIp: string;
}

export type Decision = { allowed: true; rule: string | null } | { allowed: false; reason: ReasonCode; rule: string | null };

type Matcher = (id: ClientIdentity) => boolean;

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

// The order keys appear in rule labels, whatever order the YAML used.
const RULE_KEYS = ['cn', 'o', 'ou', 'subject', 'issuer', 'san', 'serial', 'fingerprint', 'sourceIp'] as const;

function invalid(where: string, message: string): ConfigError {
  return new ConfigError('CG_CONFIG_INVALID', `${where}: ${message}`);
}

/** "DNS:Example.COM" -> "DNS:example.com"; "ip:2001:DB8::1" -> "IP:2001:db8::1". Undefined when malformed. */
function canonicalSan(text: string): string | undefined {
  const m = /^(dns|ip|email|uri):(.+)$/i.exec(text.trim());
  if (!m) return undefined;
  const type = m[1].toLowerCase();
  if (type === 'dns') return 'DNS:' + m[2].toLowerCase();
  if (type === 'ip') {
    const bytes = parseIp(m[2]);
    return bytes ? 'IP:' + formatIp(bytes) : undefined;
  }
  return (type === 'email' ? 'email:' : 'URI:') + m[2];
}

// Per-identity memo of the parsed subject/issuer keys: identities live per connection, rules run per request.
const dnKeys = new WeakMap<ClientIdentity, Map<string, DnKey | undefined>>();
function dnKeyFor(id: ClientIdentity, dn: string): DnKey | undefined {
  let m = dnKeys.get(id);
  if (!m) dnKeys.set(id, (m = new Map()));
  if (!m.has(dn)) m.set(dn, parseDnKey(dn));
  return m.get(dn);
}

function compileRule(rule: RuleConfig, label: string, kind: 'allow' | 'deny'): CompiledRule {
  const certChecks: Matcher[] = [];
  const anyOf = (field: 'cn' | 'o' | 'ou', values: string[]): void => {
    const wanted = new Set(values);
    certChecks.push((id) => id[field].some((v) => wanted.has(v)));
  };
  if (rule.cn) {
    if (kind === 'allow') {
      // A certificate names one holder: with two CNs ("CN=alice,CN=bob") it is unclear whose it is, so an allow
      // rule on cn fails closed; a deny rule (below, anyOf) still refuses when any of them matches.
      const wanted = new Set(list(rule.cn));
      certChecks.push((id) => id.cn.length === 1 && wanted.has(id.cn[0]));
    } else {
      anyOf('cn', list(rule.cn));
    }
  }
  if (rule.o) anyOf('o', list(rule.o));
  if (rule.ou) anyOf('ou', list(rule.ou));
  for (const field of ['subject', 'issuer'] as const) {
    const values = rule[field];
    if (!values) continue;
    const keys = new Set(list(values).map((dn) => {
      const key = parseDnKey(dn);
      if (key === undefined) throw invalid(label, `${field} "${dn}" is not an RFC 4514 DN (like "CN=alice,O=Acme")`);
      return key;
    }));
    certChecks.push((id) => {
      const key = dnKeyFor(id, id[field]);
      return key !== undefined && keys.has(key);
    });
  }
  if (rule.san) {
    const wanted = new Set(list(rule.san).map((s) => {
      const c = canonicalSan(s);
      if (c === undefined) throw invalid(label, `san "${s}" must look like DNS:x, IP:x, email:x or URI:x`);
      return c;
    }));
    certChecks.push((id) => id.sans.some((s) => wanted.has(canonicalSan(s) ?? '')));
  }
  if (rule.serial) {
    // compared as DER INTEGERs: "-7EDC" (a negative serial, as openssl prints it) never matches "7EDC"
    const wanted = new Set(list(rule.serial).map((s) => {
      const key = serialKeyOf(s);
      if (key === undefined) throw invalid(label, `serial "${s}" must be hexadecimal, "-" first for a negative serial`);
      return key;
    }));
    certChecks.push((id) => wanted.has(serialKeyOf(id.serial) ?? ''));
  }
  if (rule.fingerprint) {
    const wanted = new Set(list(rule.fingerprint).map((f) => {
      const hex = f.replace(/:/g, '').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw invalid(label, `fingerprint "${f}" must be a SHA-256 fingerprint (64 hex digits)`);
      return hex;
    }));
    certChecks.push((id) => wanted.has(id.fingerprint));
  }
  let ips: CidrSet | undefined;
  if (rule.sourceIp) {
    ips = new CidrSet(list(rule.sourceIp).map((c) => {
      const block = parseCidr(c);
      if (!block) throw invalid(label, `sourceIp "${c}" is not an address or CIDR block with zero host bits (like 10.1.0.0/16)`);
      return block;
    }));
  }
  const parts: string[] = [];
  for (const k of RULE_KEYS) {
    const v = rule[k];
    if (v !== undefined) parts.push(`${k}=${list(v).join('|')}`);
  }
  const needsCert = certChecks.length > 0;
  return {
    label: `${label}: ${parts.join(', ')}`,
    needsCert,
    matches(identity, sourceIp) {
      if (ips && !ips.contains(sourceIp)) return false;
      if (!needsCert) return true;
      return identity !== null && certChecks.every((check) => check(identity));
    },
  };
}

/**
 * Compiles a route's rules once per config load. `where` prefixes error messages and labels
 * (e.g. "servers[0].sites[0].routes[1]"). Throws ConfigError(CG_CONFIG_INVALID) for a malformed value.
 */
export function compileRules(route: { public?: boolean; allow?: RuleConfig[]; deny?: RuleConfig[] }, where = 'route'): CompiledPolicy {
  return {
    public: route.public === true,
    allow: route.allow ? route.allow.map((r, i) => compileRule(r, `${where}.allow[${i}]`, 'allow')) : null,
    deny: (route.deny ?? []).map((r, i) => compileRule(r, `${where}.deny[${i}]`, 'deny')),
  };
}

/**
 * Decides one request. Order: deny rules (any match refuses), then a public route admits, then allow rules
 * (absent: any verified certificate; a sourceIp-only rule admits without one). Without a verified identity the
 * refusal carries the certificate's reason (no_certificate, expired, ...) so the person knows what to fix.
 */
export function authorize(route: { policy: CompiledPolicy }, req: AuthorizeRequest): Decision {
  const { policy } = route;
  // a non-null verifyReason means the certificate did not verify, whatever identity was passed: never trust it
  const identity = req.verifyReason === null ? req.identity : null;
  const certReason: ReasonCode = req.verifyReason ?? 'no_certificate';
  for (const rule of policy.deny) {
    if (rule.matches(identity, req.sourceIp)) return { allowed: false, reason: 'not_allowed', rule: rule.label };
  }
  if (policy.public) return { allowed: true, rule: null };
  if (policy.allow === null) {
    return identity ? { allowed: true, rule: null } : { allowed: false, reason: certReason, rule: null };
  }
  for (const rule of policy.allow) {
    if (rule.matches(identity, req.sourceIp)) return { allowed: true, rule: rule.label };
  }
  return { allowed: false, reason: identity ? 'not_allowed' : certReason, rule: null };
}
