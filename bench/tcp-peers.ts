// The tcp scenario's two Node peers, one script: `upstream PORT` (answers "PING\n" with "PONG\n", streams bytes
// after "BULK\n") and `load ...` (mTLS tunnels through a target: bulk MB/s, or new tunnels/s), printing JSON.
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function upstream(port: number): void {
  const server = createServer({ noDelay: true }, (s: Socket) => {
    s.on('error', () => undefined);
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('BULK\n')) {
        s.off('data', onData);
        // as fast as the tunnel takes it: write until backpressure, continue on drain, stop when the client goes
        const pump = () => {
          while (!s.destroyed && s.write(CHUNK));
        };
        s.on('drain', pump);
        pump();
      } else if (head.includes('PING\n')) {
        head = '';
        s.write('PONG\n');
      }
    };
    s.on('data', onData);
    s.on('end', () => s.end());
  });
  server.listen(port, '127.0.0.1');
}

interface LoadOptions {
  mode: 'bulk' | 'tunnels';
  port: number;
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  conns: number;
  durationS: number;
  warmupS: number;
}

async function load(o: LoadOptions): Promise<void> {
  const tlsOptions = { host: '127.0.0.1', port: o.port, cert: o.cert, key: o.key, ca: o.ca, servername: 'localhost' };
  const start = Date.now();
  const measureFrom = start + o.warmupS * 1000;
  const stopAt = measureFrom + o.durationS * 1000;
  let bytes = 0;
  let tunnels = 0;
  let errors = 0;
  const sockets = new Set<Socket>();
  if (o.mode === 'bulk') {
    for (let i = 0; i < o.conns; i++) {
      const s = connect(tlsOptions, () => s.write('BULK\n'));
      sockets.add(s);
      s.on('data', (d: Buffer) => {
        const now = Date.now();
        if (now >= measureFrom && now < stopAt) bytes += d.length;
      });
      s.on('error', () => errors++);
    }
    await new Promise((r) => setTimeout(r, stopAt - Date.now()));
  } else {
    // each worker: a new TLS connection (full handshake: no session offered), PING, PONG, close; again until the end
    const one = () => new Promise<void>((resolve) => {
      const s = connect(tlsOptions, () => s.write('PING\n'));
      sockets.add(s);
      let got = '';
      const done = (ok: boolean) => {
        if (!ok) errors++;
        else if (Date.now() >= measureFrom && Date.now() < stopAt) tunnels++;
        s.destroy();
        sockets.delete(s);
        resolve();
      };
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('PONG\n')) done(true);
      });
      s.on('error', () => done(false));
      s.setTimeout(5_000, () => done(false));
    });
    const worker = async () => {
      for (let i = 0; i < 10_000_000 && Date.now() < stopAt; i++) await one();
    };
    await Promise.all(Array.from({ length: o.conns }, worker));
  }
  for (const s of sockets) s.destroy();
  process.stdout.write(JSON.stringify({ mode: o.mode, seconds: o.durationS, mbPerS: bytes / 1e6 / o.durationS, tunnelsPerS: tunnels / o.durationS, errors }) + '\n');
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'upstream') {
  upstream(Number(rest[0]));
} else if (cmd === 'load') {
  const { values: v } = parseArgs({
    args: rest,
    options: { mode: { type: 'string' }, port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' },
      conns: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' } },
  });
  await load({
    mode: v.mode === 'bulk' ? 'bulk' : 'tunnels', port: Number(v.port), cert: readFileSync(v.cert!), key: readFileSync(v.key!), ca: readFileSync(v.ca!),
    conns: Number(v.conns ?? 8), durationS: Number(v.duration ?? 5), warmupS: Number(v.warmup ?? 1),
  });
} else {
  process.stderr.write('usage: tcp-peers.ts upstream PORT | load --mode bulk|tunnels --port P --cert F --key F --ca F [--conns N --duration S --warmup S]\n');
  process.exitCode = 2;
}
