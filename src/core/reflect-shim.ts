// Minimal Reflect metadata API (getMetadata & co.) for tsyringe inside @peculiar/x509; no-op when one is present.
// Its only side effect is defining those functions on the global Reflect, once; see core/x509.ts for why.

type Key = string | symbol;
type Store = Map<Key | undefined, Map<unknown, unknown>>;

const stores = new WeakMap<object, Store>();

function ownMap(target: object, prop: Key | undefined, create: boolean): Map<unknown, unknown> | undefined {
  let byProp = stores.get(target);
  if (!byProp) {
    if (!create) return undefined;
    byProp = new Map();
    stores.set(target, byProp);
  }
  let map = byProp.get(prop);
  if (!map && create) {
    map = new Map();
    byProp.set(prop, map);
  }
  return map;
}

const shim = {
  defineMetadata(key: unknown, value: unknown, target: object, prop?: Key): void {
    ownMap(target, prop, true)!.set(key, value);
  },
  hasOwnMetadata(key: unknown, target: object, prop?: Key): boolean {
    return ownMap(target, prop, false)?.has(key) ?? false;
  },
  getOwnMetadata(key: unknown, target: object, prop?: Key): unknown {
    return ownMap(target, prop, false)?.get(key);
  },
  hasMetadata(key: unknown, target: object, prop?: Key): boolean {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) if (shim.hasOwnMetadata(key, t, prop)) return true;
    return false;
  },
  getMetadata(key: unknown, target: object, prop?: Key): unknown {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
      const map = ownMap(t, prop, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  },
  /** Decorator form used by tslib's __metadata("design:paramtypes", [...]). */
  metadata(key: unknown, value: unknown) {
    return (target: object, prop?: Key) => shim.defineMetadata(key, value, target, prop);
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(shim)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

export {};
