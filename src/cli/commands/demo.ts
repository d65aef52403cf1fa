// CLI: `certgate demo` — the main job in one command: a demo CA and certificates, a stand-in app, and the gateway
// in front of it on an embedded default config, with the curl lines to try it.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { createWorkspace } from '../workspace.ts';
import { startDemoApp } from '../demo-app.ts';
import { parseConfigText } from '../../config/load.ts';
import { UserError } from '../../core/errors.ts';
import { createLogger, flushLogger } from '../../observability/logger.ts';
import { createMetrics } from '../../observability/metrics.ts';
import { createGateway } from '../../gateway/gateway.ts';
import { preflight } from '../../gateway/preflight.ts';

const CLIENT = 'demo-user';

/** The embedded default: `/` needs any certificate of the demo CA, `/public` none, `/admin` a certificate named demo-admin. */
export function demoConfigText(o: { listen: string; upstream: string; serverCert: string; serverKey: string }): string {
  return `servers:
  - listen: ${o.listen}
    tls: { cert: ${o.serverCert}, key: ${o.serverKey} }
    clientAuth: { ca: pki/chain.pem, crl: pki/crl-bundle.pem, mode: verify }
    routes:
      - { path: /, upstream: "${o.upstream}" }
      - { path: /public, upstream: "${o.upstream}", public: true }
      - { path: /admin, upstream: "${o.upstream}", allow: [{ cn: demo-admin }] }
log: { level: info, access: true, format: json }
`;
}

function findIssued(pkiDir: string, name: string, ext: string): string {
  const hit = readdirSync(join(pkiDir, 'issued')).filter((f) => f.startsWith(`${name}-`) && f.endsWith(ext)).sort();
  if (hit.length === 0) throw new UserError('CG_FILE_NOT_FOUND', `the demo folder has no ${name} certificate`, { hint: `delete ${pkiDir}/.. and run certgate demo again` });
  return join(pkiDir, 'issued', hit[hit.length - 1]);
}

const HELP = `
Sets up (first run) or reuses DIR (default ./.certgate-demo): a demo CA with an UNENCRYPTED key, a gateway
certificate for localhost and 127.0.0.1, and a client certificate "${CLIENT}". Starts a small stand-in app on a free
loopback port and certgate in front of it on --listen. Stop with Ctrl-C. For real use, see \`certgate init\`.

Examples:
  certgate demo
  certgate demo --listen 127.0.0.1:9443 --dir /tmp/certgate-demo

Exit codes:
  0  stopped with Ctrl-C / SIGTERM
  1  the address is in use, or the demo folder is damaged`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run a working gateway with a generated demo CA (the quickest way to see certgate work)')
    .option('--dir <dir>', 'demo folder', '.certgate-demo')
    .option('--listen <address>', 'address for the gateway', '127.0.0.1:8443')
    .addHelpText('after', HELP)
    .action(async (opts: { dir: string; listen: string }) => {
      const dir = resolve(ctx.cwd, opts.dir);
      const pkiDir = join(dir, 'pki');
      if (!existsSync(join(pkiDir, 'ca.crt'))) {
        await createWorkspace({ dir, hosts: ['localhost', '127.0.0.1'], listen: opts.listen, upstream: 'http://127.0.0.1:3000',
          client: CLIENT, caName: 'certgate demo CA', passphrase: null });
        ctx.err(`certgate: created the demo CA in ${relative(ctx.cwd, dir) || '.'} (unencrypted key: demo only)`);
      }
      const app = await startDemoApp();
      const upstream = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
      const text = demoConfigText({ listen: opts.listen, upstream, serverCert: relative(dir, findIssued(pkiDir, 'gateway', '.crt')),
        serverKey: relative(dir, findIssued(pkiDir, 'gateway', '.key')) });
      const config = parseConfigText(text, '(embedded demo config)', dir);
      const errors = preflight(config).filter((f) => f.level === 'error');
      if (errors.length > 0) {
        app.close();
        throw new UserError(errors[0].code ?? 'CG_CONFIG_TLS', `the demo folder is not usable: ${errors[0].message}`, { hint: `delete ${dir} and run certgate demo again` });
      }
      const logger = createLogger({ level: config.log.level, format: config.log.format });
      const gateway = createGateway(config, { logger, metrics: createMetrics() });
      let port: number;
      try {
        port = (await gateway.start())[0].port;
      } catch (err) {
        app.close();
        await flushLogger(logger);
        throw err;
      }
      const rel = (p: string) => relative(ctx.cwd, p);
      const cert = rel(findIssued(pkiDir, CLIENT, '.crt'));
      const key = rel(findIssued(pkiDir, CLIENT, '.key'));
      const ca = rel(join(pkiDir, 'ca.crt'));
      ctx.err(`
certgate demo is serving https://localhost:${port}/ (the demo app behind it: ${upstream}).
Try it from another terminal:
  curl --cacert ${ca} --cert ${cert} --key ${key} https://localhost:${port}/api/hello     # 200: the app sees who you are
  curl --cacert ${ca} https://localhost:${port}/api/hello                                  # 403: no client certificate
  curl --cacert ${ca} https://localhost:${port}/public/                                    # 200: a public route
  curl --cacert ${ca} --cert ${cert} --key ${key} https://localhost:${port}/admin/         # 403: not allowed (CN must be demo-admin)
In a browser: certgate client-config ${CLIENT} --dir ${rel(pkiDir)} --browser
Stop with Ctrl-C.
`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void gateway.stop(5000).finally(() => app.close(() => done()));
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await flushLogger(logger);
    });
}
