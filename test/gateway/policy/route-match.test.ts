// Site selection (Host vs SNI) and route matching (segment prefixes, longest wins, bypass attempts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, type ServerConfig } from '../../../src/config/schema.ts';
import { compileServer, hostFromHeader, matchRoute, selectSite } from '../../../src/gateway/policy/route-match.ts';
import { normalizePath } from '../../../src/gateway/policy/path.ts';
import { isCertgateError } from '../../../src/core/errors.ts';

const up = 'http://127.0.0.1:3000';
/** Schema defaults applied; the `routes` shorthand is left for compileServer to fold, as it must cope with both. */
function server(raw: Record<string, unknown>): ServerConfig {
  return Config.parse({ servers: [{ listen: '127.0.0.1:8443', ...raw }] }).servers[0] as unknown as ServerConfig;
}

const cs = compileServer(server({
  sites: [
    { hosts: ['app.example.com', 'LocalHost'], routes: [
      { path: '/', upstream: up, public: true },
      { path: '/admin', upstream: up },
      { path: '/admin/public/', upstream: up, public: true },
      { path: '/api/v1', upstream: up },
      { path: '/café', upstream: up },
    ] },
    { hosts: ['*.example.com'], routes: [{ path: '/api', upstream: up }] },
    { hosts: ['*'], routes: [{ path: '/', upstream: up }] },
  ],
}));
const [app, wild, any] = cs.sites;

test('hostFromHeader', () => {
  const rows: Array<[string, string | undefined]> = [
    ['app.example.com', 'app.example.com'], ['APP.Example.com:8443', 'app.example.com'], ['app.example.com.', 'app.example.com'],
    ['[::1]:8443', '::1'], ['[::1]', '::1'], ['127.0.0.1:80', '127.0.0.1'],
    ['a b', undefined], ['user@host', undefined], ['host/path', undefined], ['host:port', undefined], ['.', undefined], ['', undefined],
  ];
  for (const [h, expected] of rows) assert.equal(hostFromHeader(h), expected, h);
});

test('selectSite table', () => {
  const rows: Array<[string | undefined, string | null, string]> = [
    ['app.example.com', 'app.example.com', 'app'],
    ['APP.EXAMPLE.COM:8443', 'App.Example.Com', 'app'],
    ['localhost:8443', 'localhost', 'app'],
    ['localhost', null, 'app'], // no SNI (IP literal clients): Host decides
    ['x.example.com', 'x.example.com', 'wild'],
    ['y.example.com', 'x.example.com', 'wild'], // same site
    ['a.b.example.com', null, 'any'], // wildcard covers one label only
    ['other.test', null, 'any'],
    ['app.example.com', 'x.example.com', 'misdirected'],
    ['x.example.com', 'app.example.com', 'misdirected'],
    ['app.example.com', 'unknown.test', 'misdirected'], // SNI chose the catch-all
    ['bad host', null, 'unknown_host'],
    [undefined, 'app.example.com', 'app'],
    [undefined, null, 'any'],
  ];
  const names = new Map([[app, 'app'], [wild, 'wild'], [any, 'any']]);
  for (const [host, sni, expected] of rows) {
    const r = selectSite(cs, host, sni);
    assert.equal('site' in r ? names.get(r.site) : r.reason, expected, `${host} / ${sni}`);
  }
});

test('without a catch-all, unknown hosts are refused', () => {
  const strict = compileServer(server({ sites: [{ hosts: ['app.example.com'], routes: [{ path: '/', upstream: up }] }] }));
  assert.deepEqual(selectSite(strict, 'evil.test', null), { reason: 'unknown_host' });
  assert.deepEqual(selectSite(strict, 'evil.test', 'app.example.com'), { reason: 'unknown_host' });
  assert.deepEqual(selectSite(strict, undefined, null), { reason: 'unknown_host' });
  assert.deepEqual(selectSite(strict, 'app.example.com', 'evil.test'), { reason: 'misdirected' });
});

test('matchRoute table: segment prefixes, longest wins, bypass attempts', () => {
  const rows: Array<[string, string | undefined]> = [
    ['/', '/'],
    ['/index.html', '/'],
    ['/admin', '/admin'],
    ['/admin/', '/admin'],
    ['/admin/users', '/admin'],
    ['/administrator', '/'],
    ['/admin.php', '/'],
    ['/admin;x', '/admin'],
    ['/admin;jsessionid=1/users', '/admin'],
    ['/;x/admin', '/admin'],
    ['/admin/public', '/admin/public/'],
    ['/admin/public/x', '/admin/public/'],
    ['/admin/publicity', '/admin'],
    ['/admin/public;x/../../admin', '/admin'],
    ['/ADMIN', '/'], // case-sensitive, as nginx
    ['/%61dmin', '/admin'],
    ['/x/../admin', '/admin'],
    ['/x/%2e%2e/admin', '/admin'],
    ['//admin', '/admin'],
    ['/./admin', '/admin'],
    ['/api/v1', '/api/v1'],
    ['/api/v1/x', '/api/v1'],
    ['/api/v2', '/'],
    ['/caf%C3%A9/menu', '/caf%C3%A9'],
    ['/caf%c3%a9', '/caf%C3%A9'],
  ];
  for (const [raw, expected] of rows) {
    const n = normalizePath(raw);
    assert.ok(n.ok, raw);
    assert.equal(matchRoute(app, n.path)?.path, expected, raw);
  }
  assert.equal(matchRoute(wild, '/'), undefined, 'no route: 404');
  assert.equal(matchRoute(wild, '/apix'), undefined);
  assert.equal(matchRoute(wild, '/api/x')?.label, 'servers[0].sites[1].routes[0]');
});

test('routes shorthand becomes a catch-all site', () => {
  const s = compileServer(server({ routes: [{ path: '/', upstream: up }] }));
  assert.equal(s.sites.length, 1);
  assert.equal(s.catchAll, s.sites[0]);
  assert.equal(s.sites[0].routes[0].label, 'servers[0].routes[0]');
});

test('bad route paths and duplicate routes are config errors', () => {
  for (const routes of [
    [{ path: '/a%2fb', upstream: up }],
    [{ path: '/../x', upstream: up }],
    [{ path: '/admin', upstream: up }, { path: '/admin/', upstream: up }],
  ]) {
    // the schema may refuse some of these already; compileServer must hold on its own
    const base = server({ sites: [{ hosts: ['*'], routes: [{ path: '/', upstream: up }] }] });
    const bad = { ...base, sites: [{ hosts: ['*'], routes: routes.map((r) => ({ ...base.sites![0].routes[0], ...r })) }] };
    assert.throws(() => compileServer(bad), (err: unknown) => isCertgateError(err) && err.code === 'CG_CONFIG_INVALID');
  }
});
