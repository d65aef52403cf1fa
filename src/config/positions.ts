// Maps YAML nodes and config paths (["servers", 0, "tls"]) to 1-based file:line:column positions.
import { isAlias, isMap, isScalar, isSeq, isPair, isCollection } from 'yaml';
import type { Document, LineCounter, Node, ParsedNode, Scalar, YAMLMap } from 'yaml';
import type { SourcePosition } from '../core/errors.ts';

export type ConfigPath = ReadonlyArray<PropertyKey>;

/** Where a path landed in the YAML tree. */
export interface Located {
  /** The value node at the path, when it exists and is not empty. */
  node: Node | null;
  /** The key scalar of the last map entry reached on the way (or at the path itself). */
  key: Scalar | null;
  /** True when every segment of the path was found. */
  complete: boolean;
}

/** The text a YAML file came from, with what is needed to turn offsets into positions. */
export interface SourceMap {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export function positionAt(src: SourceMap, offset: number): SourcePosition {
  const { line, col } = src.lineCounter.linePos(offset);
  return { file: src.file, line, column: col };
}

export function nodePosition(src: SourceMap, node: Node | null | undefined): SourcePosition | undefined {
  const range = node?.range;
  return range ? positionAt(src, range[0]) : undefined;
}

function deref(doc: Document.Parsed, node: unknown): Node | null {
  // Aliases stand for their anchor's node; follow them so paths keep resolving through `*anchor`.
  let n = node;
  for (let i = 0; i < 16 && isAlias(n); i++) n = n.resolve(doc);
  return (n as Node | null | undefined) ?? null;
}

/** The map entry whose key is `key` (a plain or quoted scalar equal to it). */
export function findPair(map: YAMLMap, key: string) {
  return map.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
}

/** Walks `path` through maps and sequences and reports how far it got. */
export function locate(src: SourceMap, path: ConfigPath): Located {
  let node = deref(src.doc, src.doc.contents);
  let key: Scalar | null = null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node) && typeof seg === 'string') {
      const pair = findPair(node, seg);
      if (!pair) return { node, key, complete: false };
      key = isScalar(pair.key) ? (pair.key as Scalar) : key;
      node = deref(src.doc, pair.value);
      if (node === null || (isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1])) {
        // `key:` with nothing after it: the key is the only thing to point at
        return { node: null, key, complete: i === path.length - 1 };
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = deref(src.doc, node.items[seg]);
      if (!item) return { node, key, complete: false };
      node = item;
      key = null;
    } else {
      return { node, key, complete: false };
    }
  }
  return { node, key, complete: true };
}

/** Position of the value at `path`; when it is absent or empty, of its key or of the closest enclosing node. */
export function valuePosition(src: SourceMap, path: ConfigPath): SourcePosition | undefined {
  const at = locate(src, path);
  if (at.complete && at.node) return nodePosition(src, at.node);
  return nodePosition(src, at.key ?? at.node);
}

/** Position of the key `name` inside the map at `path` (for unknown and duplicate keys). */
export function keyPosition(src: SourceMap, path: ConfigPath, name: string): SourcePosition | undefined {
  const at = locate(src, path);
  if (at.complete && isMap(at.node)) {
    const pair = findPair(at.node, name);
    if (pair && isScalar(pair.key)) return nodePosition(src, pair.key as Scalar);
  }
  return valuePosition(src, path);
}

/**
 * Position for "missing key" problems: the key that holds the object (`tls:`), or the object itself when it is a
 * sequence item (`- listen: ...`).
 */
export function holderPosition(src: SourceMap, path: ConfigPath): SourcePosition | undefined {
  const at = locate(src, path);
  if (at.complete && at.key && typeof path[path.length - 1] === 'string') return nodePosition(src, at.key);
  return nodePosition(src, at.node ?? at.key);
}

export interface DuplicateKey {
  key: string;
  first: SourcePosition;
  again: SourcePosition;
}

/** Keys that are lists or mappings (`? [a, b]: x`): never meaningful in certgate.yaml. */
export function findComplexKeys(src: SourceMap): SourcePosition[] {
  const found: SourcePosition[] = [];
  const seen = new Set<Node>();
  const visit = (node: unknown): void => {
    if (!isCollection(node) || seen.has(node)) return;
    seen.add(node);
    for (const item of node.items) {
      if (isPair(item)) {
        if (item.key !== null && !isScalar(item.key)) {
          const at = nodePosition(src, item.key as Node);
          if (at) found.push(at);
        }
        visit(item.value);
      } else {
        visit(item);
      }
    }
  };
  visit(src.doc.contents as ParsedNode | null);
  return found;
}

/** Every key written twice in one mapping, anywhere in the document (YAML would silently keep the last one). */
export function findDuplicateKeys(src: SourceMap): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const seen = new Set<Node>();
  const visit = (node: unknown): void => {
    if (!isCollection(node) || seen.has(node)) return;
    seen.add(node);
    if (isMap(node)) {
      const firstByKey = new Map<string, Scalar>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const name = String(pair.key.value);
          const first = firstByKey.get(name);
          const again = nodePosition(src, pair.key as Scalar);
          const firstPos = nodePosition(src, first);
          if (first && again && firstPos) found.push({ key: name, first: firstPos, again });
          else firstByKey.set(name, pair.key as Scalar);
        }
        visit(pair.value);
      }
    } else {
      for (const item of node.items) visit(item);
    }
  };
  visit(src.doc.contents as ParsedNode | null);
  return found;
}
