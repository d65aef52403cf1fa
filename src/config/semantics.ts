// Checks across fields that the schema alone cannot express (plain servers off loopback, duplicate listeners...).
import { isIP } from 'node:net';
import type { GatewayConfig, ServerConfig, RouteConfig, UpstreamTlsConfig } from './schema.ts';
import { keyPosition, valuePosition } from './positions.ts';
import type { ConfigPath, SourceMap } from './positions.ts';
import type { ConfigProblem } from './problems.ts';
import type { SourcePosition } from '../core/errors.ts';
import { pathText } from './issues.ts';
import { isCrlUrl } from './schema.ts';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
}

/** Splits "host:port" / "[v6]:port". */
export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, '').toLowerCase(), port: Number(listen.slice(i + 1)) };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

function at(p: SourcePosition | undefined): string {
  return p ? ` (line ${p.line})` : '';
}

/** Normalized form for comparing host names: lower case, no trailing dot, no IPv6 brackets. */
function hostKey(h: string): string {
  return h.toLowerCase().replace(/\.$/, '').replace(/^\[|\]$/g, '');
}

export function checkSemantics(config: GatewayConfig, src: SourceMap): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (message: string, position: SourcePosition | undefined, hint?: string) =>
    problems.push({ code: 'CG_CONFIG_INVALID', message, hint, position });

  const listeners: { listen: string; path: ConfigPath }[] = config.servers.map((s, i) => ({ listen: s.listen, path: ['servers', i, 'listen'] }));
  if (config.metrics) listeners.push({ listen: config.metrics.listen, path: ['metrics', 'listen'] });
  checkListeners(listeners, src, add);

  config.servers.forEach((server, i) => checkServer(server, ['servers', i], src, add));
  return problems;
}

type Add = (message: string, position: SourcePosition | undefined, hint?: string) => void;

function checkListeners(listeners: { listen: string; path: ConfigPath }[], src: SourceMap, add: Add): void {
  listeners.forEach((l, i) => {
    const a = splitListen(l.listen);
    if (a.port === 0) return; // port 0: the OS picks a free port each time, never a clash
    for (const earlier of listeners.slice(0, i)) {
      const b = splitListen(earlier.listen);
      if (a.port !== b.port) continue;
      if (a.host === b.host || WILDCARDS.has(a.host) || WILDCARDS.has(b.host)) {
        const where = at(valuePosition(src, earlier.path));
        add(`${pathText(l.path)}: ${l.listen} clashes with ${pathText(earlier.path)} = ${earlier.listen}${where}`, valuePosition(src, l.path),
          'each listener needs its own port, or its own address on that port');
        return;
      }
    }
  });
}

function checkServer(server: ServerConfig, base: ConfigPath, src: SourceMap, add: Add): void {
  const p = (...rest: PropertyKey[]) => [...base, ...rest];
  const name = pathText(base);
  const { host } = splitListen(server.listen);
  checkCrlEntries(server, base, src, add);
  if (server.tcp) {
    checkTcp(server, base, src, add);
    return;
  }

  checkIdentityHops(server, base, src, add);
  if (!server.tls) {
    if (!isLoopbackHost(host) && !server.allowPlainRemote) {
      add(`${name}.listen: plain HTTP (no tls:) on ${server.listen} would carry requests unencrypted over the network`, valuePosition(src, p('listen')),
        'add tls: {cert: ..., key: ...}, listen on 127.0.0.1, or set allowPlainRemote: true');
    }
    if (server.clientAuth) add(`${name}: clientAuth needs TLS, but this server has no tls:`, keyPosition(src, base, 'clientAuth'), 'add tls: {cert: ..., key: ...} or remove clientAuth');
    server.sites?.forEach((site, j) => {
      if (site.tls) add(`${name}.sites[${j}]: a site certificate needs TLS, but this server has no tls:`, keyPosition(src, p('sites', j), 'tls'), 'add tls: to the server or remove it from the site');
    });
  } else if (server.redirectToHttps !== undefined) {
    add(`${name}: redirectToHttps belongs on a plain HTTP server; this one already has tls:`, keyPosition(src, base, 'redirectToHttps'),
      'put redirectToHttps on a second, plain server, e.g. listen: 0.0.0.0:80 with allowPlainRemote: true');
  }

  if (server.redirectToHttps !== undefined && !server.tls) {
    for (const key of ['routes', 'sites'] as const) {
      if (server[key]) add(`${name}: a redirectToHttps server answers every request with a redirect, so its ${key} would never be used`, keyPosition(src, base, key), `remove ${key} or redirectToHttps`);
    }
    return;
  }
  if (server.routes && server.sites) {
    add(`${name}: give either routes or sites, not both`, keyPosition(src, base, 'routes'),
      'routes is shorthand for one site with hosts ["*"]: move these routes into such a site in sites');
  } else if (!server.routes && !server.sites) {
    add(`${name}: no routes: the server would refuse every request`, valuePosition(src, base),
      'add routes: [{path: /, upstream: "http://127.0.0.1:3000"}], or sites: with hosts and routes');
  }

  const hostsSeen = new Map<string, ConfigPath>();
  server.sites?.forEach((site, j) => {
    site.hosts.forEach((h, k) => {
      const hp = p('sites', j, 'hosts', k);
      const first = hostsSeen.get(hostKey(h));
      if (first) add(`${pathText(hp)}: host "${h}" is already listed at ${pathText(first)}${at(valuePosition(src, first))}`, valuePosition(src, hp), 'each host may belong to one site only');
      else hostsSeen.set(hostKey(h), hp);
    });
    checkRoutes(site.routes, p('sites', j, 'routes'), src, add);
  });
  if (server.routes) checkRoutes(server.routes, p('routes'), src, add);
}

function checkRoutes(routes: RouteConfig[], base: ConfigPath, src: SourceMap, add: Add): void {
  const seen = new Map<string, ConfigPath>();
  routes.forEach((route, i) => {
    const rp = [...base, i];
    const key = route.path.length > 1 ? route.path.replace(/\/+$/, '') : route.path;
    const first = seen.get(key);
    if (first) {
      add(`${pathText(rp)}.path: "${route.path}" is already routed by ${pathText(first)}${at(valuePosition(src, [...first, 'path']))}`,
        valuePosition(src, [...rp, 'path']), 'merge the two routes; a path prefix may appear once per site');
    } else {
      seen.set(key, rp);
    }
    const up = route.upstream;
    if (typeof up === 'object' && up.tls) {
      if (up.url.startsWith('http://')) {
        add(`${pathText(rp)}.upstream: tls settings apply only to an https:// upstream, but the url is ${up.url}`, keyPosition(src, [...rp, 'upstream'], 'tls'),
          'use https:// in url, or remove tls');
      }
      checkClientCredentials(up.tls, [...rp, 'upstream', 'tls'], src, add);
    }
  });
}

/** The client certificate certgate presents upstream: cert + key, or one p12 (with its password file). */
function checkClientCredentials(tls: UpstreamTlsConfig, at: ConfigPath, src: SourceMap, add: Add): void {
  if (tls.p12 && (tls.cert || tls.key)) {
    add(`${pathText(at)}: give the client certificate either as p12 or as cert + key, not both`, keyPosition(src, at, 'p12'), 'remove p12, or remove cert and key');
  } else if (Boolean(tls.cert) !== Boolean(tls.key)) {
    const has = tls.cert ? 'cert' : 'key';
    add(`${pathText(at)}: ${has} is given without ${has === 'cert' ? 'key' : 'cert'}`, keyPosition(src, at, has),
      'a client certificate for the upstream needs both cert and key (or one p12)');
  }
  if (tls.passwordFile && !tls.p12) add(`${pathText(at)}: passwordFile is the password of a p12, and there is none`, keyPosition(src, at, 'passwordFile'), 'add p12: client.p12, or remove passwordFile');
}

/** trustIdentityHeadersFrom: only a verified certificate can make a peer a trusted hop. */
function checkIdentityHops(server: ServerConfig, base: ConfigPath, src: SourceMap, add: Add): void {
  const rules = server.trustIdentityHeadersFrom;
  if (!rules) return;
  const name = pathText(base);
  if (!server.tls || !server.clientAuth || server.clientAuth.mode === 'off') {
    add(`${name}.trustIdentityHeadersFrom needs a TLS server that asks for client certificates (the hop is recognized by its certificate)`,
      keyPosition(src, base, 'trustIdentityHeadersFrom'), 'add tls: and clientAuth: {ca: ..., mode: verify}, or remove trustIdentityHeadersFrom');
  }
  rules.forEach((rule, i) => {
    const keys = Object.entries(rule).filter(([, v]) => v !== undefined).map(([k]) => k);
    if (keys.length === 1 && keys[0] === 'sourceIp') {
      add(`${name}.trustIdentityHeadersFrom[${i}]: a rule of sourceIp alone would trust any local process's headers`, valuePosition(src, [...base, 'trustIdentityHeadersFrom', i]),
        'name the gateway in front by its certificate, e.g. {cn: edge-gateway, sourceIp: 10.0.0.5}');
    }
  });
}

/**
 * TCP mode. Server direction (tls:): mutual TLS in front of a service, so a client certificate is required.
 * Client direction (no tls:): a plain local port whose connections go out over TLS, so it binds loopback like a plain
 * HTTP server, and its upstream must use TLS (plain in, plain out would only be a port forwarder).
 */
function checkTcp(server: ServerConfig, base: ConfigPath, src: SourceMap, add: Add): void {
  const name = pathText(base);
  const tcp = server.tcp!;
  for (const key of ['routes', 'sites'] as const) {
    if (server[key] && server[key].length > 0) add(`${name}: a tcp: server pipes bytes to one upstream, so it has no ${key}`, keyPosition(src, base, key), `remove ${key}, or put them on a server without tcp:`);
  }
  if (server.trustIdentityHeadersFrom) add(`${name}: trustIdentityHeadersFrom is about HTTP headers, not a tcp: server`, keyPosition(src, base, 'trustIdentityHeadersFrom'), 'remove trustIdentityHeadersFrom');
  if (server.redirectToHttps !== undefined) add(`${name}: redirectToHttps is for plain HTTP servers, not a tcp: server`, keyPosition(src, base, 'redirectToHttps'), 'remove redirectToHttps');

  const nested = typeof tcp.upstream === 'string' ? undefined : tcp.upstream.tls;
  const tlsPath = nested ? [...base, 'tcp', 'upstream', 'tls'] : [...base, 'tcp', 'tls'];
  if (nested && tcp.tls) {
    add(`${name}.tcp: TLS for the upstream is given twice, in tcp.tls and in tcp.upstream.tls`, keyPosition(src, [...base, 'tcp'], 'tls'),
      'keep only tcp.upstream.tls (the documented place) and remove tcp.tls');
  }
  const up = nested ?? tcp.tls;
  if (up) checkClientCredentials(up, tlsPath, src, add);

  if (!server.tls) {
    checkTcpClient(server, base, src, add, up !== undefined);
    return;
  }
  if (!server.clientAuth || server.clientAuth.mode === 'off') {
    add(`${name}: a tcp: server needs clientAuth with mode require or verify when it has tls: (server direction)`, server.clientAuth ? valuePosition(src, [...base, 'clientAuth', 'mode']) ?? keyPosition(src, base, 'clientAuth') : keyPosition(src, base, 'tcp'),
      'add clientAuth: {ca: clients-ca.pem, mode: require}');
  }
  tcp.allow?.forEach((rule, i) => {
    const keys = Object.entries(rule).filter(([, v]) => v !== undefined).map(([k]) => k);
    if (keys.length === 1 && keys[0] === 'sourceIp') {
      add(`${name}.tcp.allow[${i}]: a rule of sourceIp alone admits without a certificate, which TCP mode never does`, valuePosition(src, [...base, 'tcp', 'allow', i]),
        'add a certificate key to the rule, e.g. {cn: app-server, sourceIp: 10.0.0.0/8}');
    }
  });
}

/** A clientAuth.crl string that names a scheme must be an http(s) URL (a file path never starts with "scheme://"). */
function checkCrlEntries(server: ServerConfig, base: ConfigPath, src: SourceMap, add: Add): void {
  const crl = server.clientAuth?.crl;
  if (crl === undefined) return;
  const list = Array.isArray(crl) ? crl : [crl];
  list.forEach((entry, j) => {
    if (typeof entry !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || isCrlUrl(entry)) return;
    const path = Array.isArray(crl) ? [...base, 'clientAuth', 'crl', j] : [...base, 'clientAuth', 'crl'];
    add(`${pathText(path)}: "${entry}" is neither a file path nor an http(s) URL certgate can fetch`, valuePosition(src, path),
      'give a file path, or an http:// or https:// URL without user info or fragment');
  });
}

/** Client direction: plain in on this machine, TLS out. */
function checkTcpClient(server: ServerConfig, base: ConfigPath, src: SourceMap, add: Add, upstreamTls: boolean): void {
  const name = pathText(base);
  const { host } = splitListen(server.listen);
  if (!isLoopbackHost(host) && !server.allowPlainRemote) {
    add(`${name}.listen: a tcp: server without tls: takes plain connections; on ${server.listen} anyone on the network could use its upstream connection and certificate`, valuePosition(src, [...base, 'listen']),
      'listen on 127.0.0.1 (the app on this machine connects there), add tls: {cert, key} and clientAuth for a server-direction tunnel, or set allowPlainRemote: true');
  }
  if (!upstreamTls) {
    const upstream = server.tcp!.upstream;
    const address = typeof upstream === 'string' ? upstream : upstream.address;
    add(`${name}.tcp: plain in and plain out: without tls: on the server, the upstream must use TLS, or certgate would only forward a port`, valuePosition(src, [...base, 'tcp', 'upstream']),
      `write upstream: {address: ${address}, tls: {ca: remote-ca.pem, cert: app.crt, key: app.key}}, or add tls: and clientAuth to the server for the server direction`);
  }
  if (server.clientAuth) {
    add(`${name}: clientAuth needs TLS on the listener, but this tcp: server has no tls: (client direction: plain in, TLS out)`, keyPosition(src, base, 'clientAuth'),
      'remove clientAuth, or add tls: {cert: ..., key: ...} for a server-direction tunnel');
  }
  for (const key of ['allow', 'deny'] as const) {
    if (server.tcp![key]) {
      add(`${name}.tcp.${key}: rules check a client certificate, and a tcp: server without tls: receives none`, keyPosition(src, [...base, 'tcp'], key),
        `remove ${key}; the remote end decides on the certificate this tunnel presents`);
    }
  }
}
