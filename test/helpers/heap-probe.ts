// Test helper: the live JavaScript heap of another Node process, measured after a full garbage collection, through
// that process's own inspector (started with --inspect=127.0.0.1:0). RSS cannot tell a leak from a heap V8 grew under
// load and keeps; what is still reachable after a full collection can.

/** The inspector's WebSocket address, read from what the child printed on stderr ("Debugger listening on ws://..."). */
export function inspectorUrlIn(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(stderr)?.[1];
}

export class HeapProbe {
  #ws: WebSocket;
  #nextId = 0;
  #pending = new Map<number, (reply: { result?: unknown; error?: { message: string } }) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (e) => {
      const reply = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (reply.id === undefined) return;
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  static async attach(url: string, timeoutMs = 10_000): Promise<HeapProbe> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: no connection within ${timeoutMs} ms`)), timeoutMs);
      ws.addEventListener('open', () => { clearTimeout(timer); resolve(); }, { once: true });
      ws.addEventListener('error', () => { clearTimeout(timer); reject(new Error(`inspector ${url}: connection failed`)); }, { once: true });
    });
    return new HeapProbe(ws);
  }

  #call(method: string, timeoutMs = 30_000): Promise<unknown> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector ${method}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(`inspector ${method}: ${reply.error.message}`));
        else resolve(reply.result);
      });
      this.#ws.send(JSON.stringify({ id, method, params: {} }));
    });
  }

  /** Collects all garbage in the other process, then returns the JavaScript heap still in use, in MiB. */
  async liveHeapMiB(): Promise<number> {
    await this.#call('HeapProfiler.collectGarbage');
    const usage = (await this.#call('Runtime.getHeapUsage')) as { usedSize: number };
    return Math.round((usage.usedSize / 1024 / 1024) * 10) / 10;
  }

  close(): void {
    this.#ws.close();
  }
}
