// The one way to import @peculiar/x509: installs the small Reflect-metadata shim its DI container (tsyringe) needs.
// tsyringe throws at load time unless Reflect.getMetadata exists ("requires a reflect polyfill"). Instead of a new
// dependency (reflect-metadata), this implements the five calls tsyringe and tslib's __metadata make, on WeakMaps.
// ESM evaluates imports in order, so the shim below runs before @peculiar/x509 loads. Import this module, never
// '@peculiar/x509' directly: `import * as x509 from './x509.ts'`.
import './reflect-shim.ts';

export * from '@peculiar/x509';
