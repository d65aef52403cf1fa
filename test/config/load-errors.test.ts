// Table tests: bad configs give problems at the exact line:column, with the expected shape and a likely fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigProblemsError, MAX_PROBLEMS } from '../../src/config/problems.ts';
import type { ConfigProblem } from '../../src/config/problems.ts';
import { ConfigError } from '../../src/core/errors.ts';

function problemsOf(yaml: string): { code: string; problems: ConfigProblem[]; line: string } {
  try {
    parseConfigText(yaml, 'certgate.yaml', '/etc/certgate');
  } catch (err) {
    assert.ok(err instanceof ConfigProblemsError, `expected ConfigProblemsError, got ${String(err)}`);
    assert.ok(err instanceof ConfigError);
    return { code: err.code, problems: err.problems, line: err.userLine() };
  }
  assert.fail('config was accepted');
}

const at = (p: ConfigProblem) => (p.position ? `${p.position.line}:${p.position.column}` : 'nowhere');

// A server block that is valid on its own, so each case adds exactly one mistake.
const TLS = '    tls: {cert: server.crt, key: server.key}\n';
const ROUTES = '    routes:\n      - path: /\n        upstream: http://127.0.0.1:3000\n';

interface Case {
  name: string;
  yaml: string;
  code: string;
  at: string;
  message: RegExp;
  hint?: RegExp;
}

const CASES: Case[] = [
  {
    name: 'typo in a server key',
    yaml: `servers:\n  - lisen: 127.0.0.1:8443\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '2:5',
    message: /^unknown key "lisen" in servers\[0\]$/,
    hint: /did you mean "listen"\? allowed here: listen, tls, http2, clientAuth/,
  },
  {
    name: 'typo in a nested key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n    tls: {cert: server.crt, kye: server.key}\n${ROUTES}`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '3:29',
    message: /unknown key "kye" in servers\[0\]\.tls/,
    hint: /did you mean "key"\?/,
  },
  {
    name: 'key in the wrong place',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n    cert: server.crt\n${ROUTES}`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '3:5',
    message: /unknown key "cert"/,
    hint: /"cert" belongs inside "tls:"/,
  },
  {
    name: 'wrong case of a key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    clientauth: {ca: ca.pem}\n${ROUTES}`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '4:5',
    message: /unknown key "clientauth"/,
    hint: /did you mean "clientAuth"\?/,
  },
  {
    name: 'typo at the top level',
    yaml: `server:\n  - listen: 127.0.0.1:8443\n${ROUTES}`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '1:1',
    message: /unknown key "server" in the top level/,
    hint: /did you mean "servers"\?/,
  },
  {
    name: 'hosts given as a string',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    sites:\n      - hosts: app.example.com\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:16',
    message: /servers\[0\]\.sites\[0\]\.hosts: expected a list of host names, e\.g\. \[app\.example\.com\], got "app\.example\.com"/,
    hint: /write a list: \[app\.example\.com\]/,
  },
  {
    name: 'listen as a bare port number',
    yaml: `servers:\n  - listen: 8443\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /servers\[0\]\.listen: expected host:port, e\.g\. 127\.0\.0\.1:8443 or \[::1\]:8443, got the number 8443/,
    hint: /"127\.0\.0\.1:8443" for this machine only, or "0\.0\.0\.0:8443"/,
  },
  {
    name: 'listen as :port',
    yaml: `servers:\n  - listen: ":8443"\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /expected host:port/,
    hint: /"0\.0\.0\.0:8443" for every interface/,
  },
  {
    name: 'listen with an IPv6 address without brackets',
    yaml: `servers:\n  - listen: "::1:8443"\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /expected host:port/,
    hint: /"\[::1\]:8443": IPv6 addresses go in brackets/,
  },
  {
    name: 'listen port out of range',
    yaml: `servers:\n  - listen: 127.0.0.1:70000\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /expected a port between 0 and 65535, got "127\.0\.0\.1:70000"/,
  },
  {
    name: 'duration without a unit',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    timeouts: {idle: 60}\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '4:22',
    message: /servers\[0\]\.timeouts\.idle: expected a duration like "500ms", "5s", "2m" or "1h", got the number 60/,
    hint: /did you mean "60s"\?/,
  },
  {
    name: 'duration in words',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        timeouts:\n          read: 2 minutes\n`,
    code: 'CG_CONFIG_INVALID',
    at: '8:17',
    message: /routes\[0\]\.timeouts\.read: expected a duration like/,
    hint: /did you mean "2m"\?/,
  },
  {
    name: 'zero duration',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    timeouts:\n      header: 0s\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '5:15',
    message: /expected a duration longer than zero, got "0s"/,
  },
  {
    name: 'server without routes',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:5',
    message: /servers\[0\]: no routes: the server would refuse every request/,
    hint: /add routes:/,
  },
  {
    name: 'empty routes list',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes: []\n`,
    code: 'CG_CONFIG_INVALID',
    at: '4:13',
    message: /servers\[0\]\.routes: expected a list of routes, .* \(at least 1\), got an empty list/,
  },
  {
    name: 'rule with no keys',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        allow:\n          - {}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '8:13',
    message: /allow\[0\]: expected a rule with at least one of the keys cn, o, ou, subject, issuer, san, serial, fingerprint, sourceIp, got an empty mapping/,
  },
  {
    name: 'rule written as a bare string',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        allow: [ops]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:17',
    message: /allow\[0\]: expected a rule such as \{ou: ops\}, \{cn: \[alice, bob\]\} or \{sourceIp: 10\.1\.0\.0\/16\}, got "ops"/,
  },
  {
    name: 'typo in a rule key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        deny:\n          - cm: mallory\n`,
    code: 'CG_CONFIG_UNKNOWN_KEY',
    at: '8:13',
    message: /unknown key "cm" in servers\[0\]\.routes\[0\]\.deny\[0\]/,
    hint: /did you mean "cn"\?/,
  },
  {
    name: 'bad CIDR in sourceIp',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        allow: [{sourceIp: [10.0.0.0/8, 10.1.0.0/33]}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:41',
    message: /sourceIp\[1\]: expected an IP address or CIDR block, e\.g\. 10\.1\.0\.0\/16 or 2001:db8::\/32, got "10\.1\.0\.0\/33"/,
  },
  {
    name: 'san without a type prefix',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        allow: [{san: alice@example.com}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:23',
    message: /san: expected a name starting with DNS:, email:, URI: or IP:/,
  },
  {
    name: 'enum typo',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    clientAuth:\n      ca: ca.pem\n      mode: requir\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '6:13',
    message: /clientAuth\.mode: expected one of require, verify, off, got "requir"/,
    hint: /did you mean "require"\?/,
  },
  {
    name: 'TLS version below 1.2',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n    tls: {cert: a.crt, key: a.key, minVersion: TLSv1.1}\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '3:48',
    message: /minVersion: expected TLSv1\.2 or TLSv1\.3 \(older versions are never accepted\), got "TLSv1\.1"/,
  },
  {
    name: 'yes instead of true',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    http2: yes\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '4:12',
    message: /http2: expected true or false, got "yes"/,
    hint: /YAML 1\.2 reads yes, no, on and off as text/,
  },
  {
    name: 'missing required key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n    tls:\n      cert: server.crt\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '3:5',
    message: /missing required key "key" in servers\[0\]\.tls/,
    hint: /key: the path of a PEM private key file/,
  },
  {
    name: 'upstream without scheme',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      - path: /\n        upstream: 127.0.0.1:3000\n`,
    code: 'CG_CONFIG_INVALID',
    at: '6:19',
    message: /upstream: expected http\(s\):\/\/host:port with an optional base path/,
    hint: /did you mean "http:\/\/127\.0\.0\.1:3000"\?/,
  },
  {
    name: 'route path without a leading slash',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      - path: admin\n        upstream: http://127.0.0.1:3000\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:15',
    message: /path: expected a path starting with "\/", got "admin"/,
    hint: /did you mean "\/admin"\?/,
  },
  {
    name: 'route path that never matches a normalized path',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      - path: /a/../admin\n        upstream: http://127.0.0.1:3000\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:15',
    message: /expected a plain path without/,
  },
  {
    name: 'host with a port',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    sites:\n      - hosts: [app.example.com:8443]\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:17',
    message: /hosts\[0\]: expected a host name/,
    hint: /write "app\.example\.com": hosts carry no port/,
  },
  {
    name: 'YAML syntax error',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n   tls: x\n`,
    code: 'CG_CONFIG_SYNTAX',
    at: '3:1',
    message: /^YAML syntax: /,
  },
  {
    name: 'tab indentation',
    yaml: `servers:\n\t- listen: 127.0.0.1:8443\n`,
    code: 'CG_CONFIG_SYNTAX',
    at: '2:1',
    message: /tabs are not allowed/,
  },
  {
    name: 'duplicate key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}    listen: 127.0.0.1:9443\n`,
    code: 'CG_CONFIG_SYNTAX',
    at: '7:5',
    message: /duplicate key "listen"; it first appears at line 2, column 5/,
  },
  {
    name: 'a list used as a key',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}    ? [a, b]\n    : c\n`,
    code: 'CG_CONFIG_SYNTAX',
    at: '7:7',
    message: /a key must be a plain name/,
  },
  {
    name: 'two YAML documents',
    yaml: `servers: []\n---\nlog: {}\n`,
    code: 'CG_CONFIG_SYNTAX',
    at: '2:1',
    message: /one YAML document/,
  },
  {
    name: 'empty file',
    yaml: '# nothing yet\n',
    code: 'CG_CONFIG_INVALID',
    at: '1:1',
    message: /the config is empty/,
  },
  {
    name: 'top level is a list',
    yaml: '- listen: 127.0.0.1:8443\n',
    code: 'CG_CONFIG_INVALID',
    at: '1:1',
    message: /top level: expected a mapping with the keys servers, log, metrics, expiryWarning, stateDir, workers, pidFile, got a list/,
  },
  {
    name: 'servers left empty',
    yaml: 'servers:\nlog: {level: info}\n',
    code: 'CG_CONFIG_INVALID',
    at: '1:1',
    message: /servers: expected a list of servers.*got an empty value/,
  },
  {
    name: 'a mapping where a list is needed',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      path: /\n      upstream: http://127.0.0.1:3000\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:7',
    message: /servers\[0\]\.routes: expected a list of routes, .*, got a mapping/,
    hint: /start each entry with "- "/,
  },
  {
    name: 'route split over two list items',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      - path: /\n      - upstream: http://127.0.0.1:3000\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:9',
    message: /^missing required key "upstream" in servers\[0\]\.routes\[0\]$/,
    hint: /upstream: an upstream URL such as http:\/\/127\.0\.0\.1:3000, or a mapping/,
  },
  {
    name: 'bad security header name',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    securityHeaders:\n      "X Frame": DENY\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '5:7',
    message: /servers\[0\]\.securityHeaders: "X Frame" is not an HTTP header name/,
  },
  {
    name: 'security header value that is not text',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    securityHeaders: {X-Test: 5}\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '4:31',
    message: /securityHeaders\.X-Test: expected text or false, got the number 5/,
    hint: /put it in quotes: "5"/,
  },
  {
    name: 'serial written as a number',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}        allow: [{serial: 1000}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:26',
    message: /serial: expected a serial number in hex or a list of them, e\.g\. "4F2A01", got the number 1000/,
    hint: /put it in quotes: "1000"/,
  },
  // cross-field checks
  {
    name: 'plain server on a public address',
    yaml: `servers:\n  - listen: 0.0.0.0:8080\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /plain HTTP \(no tls:\) on 0\.0\.0\.0:8080 would carry requests unencrypted/,
    hint: /allowPlainRemote: true/,
  },
  {
    name: 'redirectToHttps on a TLS server',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    redirectToHttps: 8443\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '4:5',
    message: /redirectToHttps belongs on a plain HTTP server/,
  },
  {
    name: 'clientAuth on a plain server',
    yaml: `servers:\n  - listen: 127.0.0.1:8080\n    clientAuth: {ca: ca.pem}\n${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '3:5',
    message: /clientAuth needs TLS/,
  },
  {
    name: 'duplicate listen address',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}  - listen: 0.0.0.0:8443\n${TLS}${ROUTES}`,
    code: 'CG_CONFIG_INVALID',
    at: '7:13',
    message: /servers\[1\]\.listen: 0\.0\.0\.0:8443 clashes with servers\[0\]\.listen = 127\.0\.0\.1:8443 \(line 2\)/,
  },
  {
    name: 'metrics on a server port',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}metrics: {listen: 127.0.0.1:8443}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:19',
    message: /metrics\.listen: 127\.0\.0\.1:8443 clashes with servers\[0\]\.listen/,
  },
  {
    name: 'upstream tls on an http upstream',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes:\n      - path: /\n        upstream:\n          url: http://127.0.0.1:3000\n          tls: {ca: up.pem}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '8:11',
    message: /tls settings apply only to an https:\/\/ upstream/,
  },
  {
    name: 'host listed in two sites',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    sites:\n      - hosts: [app.example.com]\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n      - hosts: [api.example.com, App.Example.com]\n        routes: [{path: /, upstream: "http://127.0.0.1:3001"}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:34',
    message: /host "App\.Example\.com" is already listed at servers\[0\]\.sites\[0\]\.hosts\[0\] \(line 5\)/,
  },
  {
    name: 'routes and sites together',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}    sites:\n      - hosts: [a.example.com]\n        routes: [{path: /, upstream: "http://127.0.0.1:3000"}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '4:5',
    message: /give either routes or sites, not both/,
  },
  {
    name: 'tcp server with routes',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    clientAuth: {ca: ca.pem, mode: require}\n${ROUTES}    tcp: {upstream: "127.0.0.1:5432"}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '5:5',
    message: /a tcp: server pipes bytes to one upstream, so it has no routes/,
  },
  {
    name: 'tcp client direction: plain in and plain out',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n    tcp: {upstream: "127.0.0.1:5432"}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '3:21',
    message: /plain in and plain out: without tls: on the server, the upstream must use TLS/,
    hint: /upstream: \{address: 127\.0\.0\.1:5432, tls: \{ca: /,
  },
  {
    name: 'tcp client direction on a non-loopback address',
    yaml: `servers:\n  - listen: 0.0.0.0:5433\n    tcp:\n      upstream:\n        address: db.example.com:15432\n        tls: {ca: remote-ca.pem, cert: app.crt, key: app.key}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '2:13',
    message: /servers\[0\]\.listen: a tcp: server without tls: takes plain connections; on 0\.0\.0\.0:5433/,
    hint: /allowPlainRemote: true/,
  },
  {
    name: 'tcp client direction with clientAuth',
    yaml: `servers:\n  - listen: 127.0.0.1:5433\n    clientAuth: {ca: ca.pem}\n    tcp:\n      upstream:\n        address: db.example.com:15432\n        tls: {ca: remote-ca.pem, cert: app.crt, key: app.key}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '3:5',
    message: /clientAuth needs TLS on the listener, but this tcp: server has no tls:/,
  },
  {
    name: 'tcp client direction with allow rules',
    yaml: `servers:\n  - listen: 127.0.0.1:5433\n    tcp:\n      upstream:\n        address: db.example.com:15432\n        tls: {ca: remote-ca.pem, cert: app.crt, key: app.key}\n      allow: [{cn: app}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:7',
    message: /tcp\.allow: rules check a client certificate, and a tcp: server without tls: receives none/,
  },
  {
    name: 'tcp upstream TLS given in both places',
    yaml: `servers:\n  - listen: 127.0.0.1:5433\n    tcp:\n      upstream:\n        address: db.example.com:15432\n        tls: {ca: remote-ca.pem, cert: app.crt, key: app.key}\n      tls: {ca: other-ca.pem}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:7',
    message: /TLS for the upstream is given twice, in tcp\.tls and in tcp\.upstream\.tls/,
    hint: /keep only tcp\.upstream\.tls/,
  },
  {
    name: 'tcp upstream.tls cert without key',
    yaml: `servers:\n  - listen: 127.0.0.1:5433\n    tcp:\n      upstream:\n        address: db.example.com:15432\n        tls: {ca: remote-ca.pem, cert: app.crt}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '6:34',
    message: /servers\[0\]\.tcp\.upstream\.tls: cert is given without key/,
  },
  {
    name: 'tcp upstream mapping with a misspelt address',
    yaml: `servers:\n  - listen: 127.0.0.1:5433\n    tcp:\n      upstream:\n        adress: db.example.com:15432\n`,
    code: 'CG_CONFIG_INVALID',
    at: '4:7',
    message: /missing required key "address" in servers\[0\]\.tcp\.upstream/,
  },
  {
    name: 'tcp server with clientAuth off',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    clientAuth: {ca: ca.pem, mode: "off"}\n    tcp: {upstream: "127.0.0.1:5432"}\n`,
    code: 'CG_CONFIG_INVALID',
    at: '4:36',
    message: /a tcp: server needs clientAuth with mode require or verify/,
  },
  {
    name: 'tcp allow rule of sourceIp alone',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}    clientAuth: {ca: ca.pem}\n    tcp:\n      upstream: "127.0.0.1:5432"\n      allow: [{sourceIp: 10.0.0.0/8}]\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:15',
    message: /tcp\.allow\[0\]: a rule of sourceIp alone admits without a certificate/,
  },
  {
    name: 'same route path twice',
    yaml: `servers:\n  - listen: 127.0.0.1:8443\n${TLS}${ROUTES}      - path: /\n        upstream: http://127.0.0.1:3001\n`,
    code: 'CG_CONFIG_INVALID',
    at: '7:15',
    message: /routes\[1\]\.path: "\/" is already routed by servers\[0\]\.routes\[0\] \(line 5\)/,
  },
];

for (const c of CASES) {
  test(`bad config: ${c.name}`, () => {
    const { code, problems } = problemsOf(c.yaml);
    const first = problems[0];
    assert.equal(code, c.code, first.message);
    assert.equal(at(first), c.at, first.message);
    assert.match(first.message, c.message);
    if (c.hint) assert.match(first.hint ?? '', c.hint);
    assert.equal(first.position?.file, 'certgate.yaml');
  });
}

test('several problems are all reported, in file order, and the first decides the code', () => {
  const yaml = `servers:\n  - listen: 8443\n    tls: {cert: a.crt, key: a.key, minVersion: TLSv1}\n    htp2: true\n${ROUTES}`;
  const { code, problems, line } = problemsOf(yaml);
  assert.deepEqual(problems.map(at), ['2:13', '3:48', '4:5']);
  assert.equal(code, 'CG_CONFIG_INVALID');
  const lines = line.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^certgate\.yaml:2:13: servers\[0\]\.listen: /);
  assert.match(lines[2], /^certgate\.yaml:4:5: unknown key "htp2"/);
});

test('at most MAX_PROBLEMS are listed, with a count of the rest', () => {
  const servers = Array.from({ length: 14 }, (_, i) => `  - listen: bad${i}\n${TLS}${ROUTES}`).join('');
  const { problems, line } = problemsOf(`servers:\n${servers}`);
  assert.equal(problems.length, MAX_PROBLEMS);
  assert.match(line, /\(4 more problems not shown; fix these first\)$/);
});

test('positions follow aliases to their anchors', () => {
  const yaml = `x-route: &r {path: /, upstream: "http://127.0.0.1:3000", pubic: true}\nservers:\n  - listen: 127.0.0.1:8443\n${TLS}    routes: [*r]\n`;
  const { problems } = problemsOf(yaml);
  // the top-level x-route is unknown; the aliased route's typo is reported where the anchor defines it
  assert.deepEqual(problems.map((p) => [at(p), p.message]), [
    ['1:1', 'unknown key "x-route" in the top level'],
    ['1:58', 'unknown key "pubic" in servers[0].routes[0]'],
  ]);
});

test('an unresolved alias is a syntax problem, not a crash', () => {
  const { code } = problemsOf(`servers: *nothing\n`);
  assert.equal(code, 'CG_CONFIG_SYNTAX');
});
