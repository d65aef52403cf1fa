// Allow/deny evaluation: rule keys, lists, deny-first, public routes, and no way in without a verified identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorize, compileRules, type Decision } from '../../../src/gateway/policy/policy.ts';
import type { ClientIdentity } from '../../../src/gateway/identity/identity.ts';
import type { RuleConfig } from '../../../src/config/schema.ts';
import type { ReasonCode } from '../../../src/gateway/policy/reasons.ts';
import { isCertgateError } from '../../../src/core/errors.ts';

const FP = 'ab'.repeat(32);
const alice: ClientIdentity = {
  subject: 'CN=alice,OU=ops+OU=dev,O=Acme,C=US',
  issuer: 'CN=Acme Client CA,O=Acme',
  cn: ['alice'], o: ['Acme'], ou: ['dev', 'ops'],
  sans: ['DNS:alice.example.com', 'email:alice@example.com', 'IP:2001:db8::1', 'URI:spiffe://acme/alice'],
  serial: '0A1B', fingerprint: FP, escapedPem: '', notBefore: new Date(0), notAfter: new Date(0),
};
const mallory: ClientIdentity = { ...alice, subject: 'CN=mallory,O=Acme', cn: ['mallory'], ou: [], serial: '0C', fingerprint: 'cd'.repeat(32), sans: [] };

interface Row {
  name: string;
  route: { public?: boolean; allow?: RuleConfig[]; deny?: RuleConfig[] };
  identity: ClientIdentity | null;
  verifyReason?: ReasonCode | null;
  ip?: string;
  expect: Decision;
}

const ok = (rule: string | null = null): Decision => ({ allowed: true, rule });
const no = (reason: ReasonCode, rule: string | null = null): Decision => ({ allowed: false, reason, rule });

const ROWS: Row[] = [
  { name: 'no allow list: any verified cert', route: {}, identity: alice, expect: ok() },
  { name: 'no allow list: no cert', route: {}, identity: null, expect: no('no_certificate') },
  { name: 'no allow list: expired cert says expired', route: {}, identity: null, verifyReason: 'expired', expect: no('expired') },
  { name: 'public: no cert needed', route: { public: true }, identity: null, expect: ok() },
  { name: 'public: a bad cert does not matter', route: { public: true, allow: [{ cn: 'bob' }] }, identity: null, verifyReason: 'revoked', expect: ok() },
  { name: 'cn match', route: { allow: [{ cn: 'alice' }] }, identity: alice, expect: ok('route.allow[0]: cn=alice') },
  { name: 'cn list', route: { allow: [{ cn: ['bob', 'alice'] }] }, identity: alice, expect: ok('route.allow[0]: cn=bob|alice') },
  { name: 'cn is case-sensitive', route: { allow: [{ cn: 'Alice' }] }, identity: alice, expect: no('not_allowed') },
  { name: 'cn no match', route: { allow: [{ cn: 'bob' }] }, identity: alice, expect: no('not_allowed') },
  { name: 'any OU of the cert', route: { allow: [{ ou: 'ops' }] }, identity: alice, expect: ok('route.allow[0]: ou=ops') },
  { name: 'keys AND together', route: { allow: [{ ou: 'ops', cn: 'bob' }] }, identity: alice, expect: no('not_allowed') },
  { name: 'second rule matches', route: { allow: [{ cn: 'bob' }, { o: 'Acme', ou: 'dev' }] }, identity: alice, expect: ok('route.allow[1]: o=Acme, ou=dev') },
  { name: 'subject exact, spaces and order inside RDN ignored', route: { allow: [{ subject: 'CN=alice, OU=dev+OU=ops, O=Acme, C=US' }] }, identity: alice, expect: ok('route.allow[0]: subject=CN=alice, OU=dev+OU=ops, O=Acme, C=US') },
  { name: 'subject needs every RDN', route: { allow: [{ subject: 'CN=alice,O=Acme,C=US' }] }, identity: alice, expect: no('not_allowed') },
  { name: 'issuer', route: { allow: [{ issuer: 'cn=Acme Client CA,o=Acme' }] }, identity: alice, expect: ok('route.allow[0]: issuer=cn=Acme Client CA,o=Acme') },
  { name: 'san DNS case-insensitive', route: { allow: [{ san: 'dns:ALICE.example.com' }] }, identity: alice, expect: ok('route.allow[0]: san=dns:ALICE.example.com') },
  { name: 'san IP canonical', route: { allow: [{ san: 'IP:2001:DB8:0:0::1' }] }, identity: alice, expect: ok('route.allow[0]: san=IP:2001:DB8:0:0::1') },
  { name: 'san email', route: { allow: [{ san: ['email:bob@example.com', 'email:alice@example.com'] }] }, identity: alice, expect: ok('route.allow[0]: san=email:bob@example.com|email:alice@example.com') },
  { name: 'san URI exact', route: { allow: [{ san: 'URI:spiffe://acme/Alice' }] }, identity: alice, expect: no('not_allowed') },
  { name: 'serial, case and leading zeros ignored', route: { allow: [{ serial: 'a1b' }] }, identity: alice, expect: ok('route.allow[0]: serial=a1b') },
  { name: 'serial with colons', route: { allow: [{ serial: '0a:1b' }] }, identity: alice, expect: ok('route.allow[0]: serial=0a:1b') },
  { name: 'fingerprint with colons, upper case', route: { allow: [{ fingerprint: FP.toUpperCase().match(/../g)!.join(':') }] }, identity: alice, expect: { allowed: true, rule: `route.allow[0]: fingerprint=${FP.toUpperCase().match(/../g)!.join(':')}` } },
  { name: 'fingerprint other', route: { allow: [{ fingerprint: 'cd'.repeat(32) }] }, identity: alice, expect: no('not_allowed') },
  { name: 'sourceIp alone admits without a cert', route: { allow: [{ sourceIp: '10.1.0.0/16' }] }, identity: null, ip: '10.1.2.3', expect: ok('route.allow[0]: sourceIp=10.1.0.0/16') },
  { name: 'sourceIp alone, v4-mapped client address', route: { allow: [{ sourceIp: '10.1.0.0/16' }] }, identity: null, ip: '::ffff:10.1.2.3', expect: ok('route.allow[0]: sourceIp=10.1.0.0/16') },
  { name: 'sourceIp alone, other address, no cert', route: { allow: [{ sourceIp: '10.1.0.0/16' }] }, identity: null, ip: '10.2.0.1', expect: no('no_certificate') },
  { name: 'sourceIp alone, other address, with cert', route: { allow: [{ sourceIp: '10.1.0.0/16' }] }, identity: alice, ip: '10.2.0.1', expect: no('not_allowed') },
  { name: 'sourceIp + cn needs both: no cert', route: { allow: [{ sourceIp: '10.1.0.0/16', cn: 'alice' }] }, identity: null, ip: '10.1.2.3', expect: no('no_certificate') },
  { name: 'sourceIp + cn needs both: wrong ip', route: { allow: [{ sourceIp: '10.1.0.0/16', cn: 'alice' }] }, identity: alice, ip: '10.9.2.3', expect: no('not_allowed') },
  { name: 'sourceIp + cn: both', route: { allow: [{ sourceIp: ['192.168.0.0/16', '10.1.0.0/16'], cn: 'alice' }] }, identity: alice, ip: '10.1.2.3', expect: ok('route.allow[0]: cn=alice, sourceIp=192.168.0.0/16|10.1.0.0/16') },
  { name: 'deny first', route: { allow: [{ o: 'Acme' }], deny: [{ cn: 'mallory' }] }, identity: mallory, expect: no('not_allowed', 'route.deny[0]: cn=mallory') },
  { name: 'deny does not hit others', route: { allow: [{ o: 'Acme' }], deny: [{ cn: 'mallory' }] }, identity: alice, expect: ok('route.allow[0]: o=Acme') },
  { name: 'deny applies on public routes', route: { public: true, deny: [{ sourceIp: '10.6.6.0/24' }] }, identity: null, ip: '10.6.6.6', expect: no('not_allowed', 'route.deny[0]: sourceIp=10.6.6.0/24') },
  { name: 'deny by ip beats allow by ip', route: { allow: [{ sourceIp: '10.0.0.0/8' }], deny: [{ sourceIp: '10.6.0.0/16' }] }, identity: null, ip: '10.6.1.1', expect: no('not_allowed', 'route.deny[0]: sourceIp=10.6.0.0/16') },
  { name: 'cert deny rule cannot match without a cert', route: { allow: [{ sourceIp: '10.0.0.0/8' }], deny: [{ cn: 'mallory' }] }, identity: null, ip: '10.1.1.1', expect: ok('route.allow[0]: sourceIp=10.0.0.0/8') },
  { name: 'empty allow list admits nobody', route: { allow: [] }, identity: alice, expect: no('not_allowed') },
  { name: 'identity passed with a verify failure is ignored', route: { allow: [{ cn: 'alice' }] }, identity: alice, verifyReason: 'unknown_ca', expect: no('unknown_ca') },
  { name: 'identity passed with a verify failure, no allow list', route: {}, identity: alice, verifyReason: 'revoked', expect: no('revoked') },
];

test('authorize table', () => {
  for (const row of ROWS) {
    const policy = compileRules(row.route);
    const got = authorize({ policy }, { identity: row.identity, verifyReason: row.verifyReason ?? null, sourceIp: row.ip ?? '127.0.0.1' });
    assert.deepEqual(got, row.expect, row.name);
  }
});

test('a null identity never passes a non-public route unless a sourceIp-only rule matches', () => {
  const templates: RuleConfig[] = [
    { cn: 'alice' }, { o: 'Acme' }, { ou: ['ops', 'dev'] }, { subject: 'CN=alice,O=Acme' }, { issuer: 'CN=CA' },
    { san: 'DNS:alice.example.com' }, { serial: '0A1B' }, { fingerprint: FP }, { sourceIp: '10.0.0.0/8', cn: 'alice' },
    { sourceIp: '10.0.0.0/8' }, { sourceIp: '::/0' }, { sourceIp: '192.168.0.0/16', ou: 'ops' },
  ];
  const reasons: Array<ReasonCode | null> = [null, 'no_certificate', 'expired', 'revoked', 'unknown_ca'];
  let checked = 0;
  // every subset of up to 3 templates as the allow list (bounded: 12 + 66 + 220 lists), with and without deny rules
  const lists: RuleConfig[][] = [[]];
  for (let a = 0; a < templates.length; a++) {
    lists.push([templates[a]]);
    for (let b = a + 1; b < templates.length; b++) {
      lists.push([templates[a], templates[b]]);
      for (let c = b + 1; c < templates.length; c++) lists.push([templates[a], templates[b], templates[c]]);
    }
  }
  for (const allow of lists) {
    for (const deny of [undefined, [{ cn: 'mallory' }], [{ sourceIp: '10.9.0.0/16' }]]) {
      const policy = compileRules({ allow, deny });
      for (const ip of ['10.1.2.3', '10.9.1.1', '192.168.1.1', '::1']) {
        const ipOnly = allow.some((r) => Object.keys(r).every((k) => k === 'sourceIp'));
        for (const verifyReason of reasons) {
          const d = authorize({ policy }, { identity: null, verifyReason, sourceIp: ip });
          if (d.allowed) {
            assert.ok(ipOnly, `allowed without a cert by ${d.rule}`);
            assert.match(d.rule ?? '', /: sourceIp=[^,]*$/);
          } else {
            assert.ok(d.reason === (verifyReason ?? 'no_certificate') || d.reason === 'not_allowed');
          }
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 5000);
});

test('malformed rule values are config errors that name the rule', () => {
  const bad: RuleConfig[] = [
    { subject: 'alice' }, { issuer: 'XYZ=1' }, { san: 'alice.example.com' }, { san: 'IP:10.1' }, { serial: 'xyz' },
    { fingerprint: 'abc' }, { sourceIp: '10.1.2.3/16' }, { sourceIp: 'example.com' },
  ];
  for (const rule of bad) {
    assert.throws(() => compileRules({ allow: [{ cn: 'ok' }, rule] }, 'servers[0].routes[2]'), (err: unknown) => {
      assert.ok(isCertgateError(err));
      assert.equal(err.code, 'CG_CONFIG_INVALID');
      assert.match(err.message, /^servers\[0\]\.routes\[2\]\.allow\[1\]: /);
      return true;
    }, JSON.stringify(rule));
  }
});
