// node:http without an ES module import of it, which would load Node's bundled undici (fetch, WebSocket) for nothing.
// An `import { createServer } from 'node:http'` builds the module's namespace, and building it reads every export,
// among them the lazy `http.WebSocket`, `CloseEvent` and `MessageEvent` getters (Node >= 22.5): that compiles Node's
// internal copy of undici (a 760 KB bundle) and costs `certgate serve` about 6 MB of RSS at start, though nothing in
// certgate uses those classes. `process.getBuiltinModule` returns the module object and reads no getter.
// Type-only imports (`import type ... from 'node:http'`) are erased and stay as they are.
import type * as NodeHttp from 'node:http';

export const http: typeof NodeHttp = process.getBuiltinModule('node:http');
