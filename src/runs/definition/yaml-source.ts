import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { DefinitionIssue, FieldPath, LineLocator } from './issues.js';

/**
 * One YAML document read with its positions: the plain value for the parsers, and the line of any field for
 * their messages. Anchors, aliases and `<<` merge keys are resolved in `value`; a field reached through
 * them is located at the nearest line the walk can find.
 */
export class YamlSource implements LineLocator {
  private constructor(
    private readonly document: Document.Parsed,
    private readonly lines: LineCounter,
    /** The document as plain JSON-like data (mappings are objects, null for an empty document). */
    readonly value: unknown,
  ) {}

  /** Parses `text`; a syntax error gives no source and one issue per error, with its line. */
  static parse(text: string): { source: YamlSource } | { syntaxErrors: DefinitionIssue[] } {
    const lines = new LineCounter();
    const document = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: true,
      merge: true,
      uniqueKeys: true,
    });
    if (document.errors.length > 0) {
      return {
        syntaxErrors: document.errors.map((error) => {
          const line = error.linePos?.[0].line;
          const message = `invalid YAML: ${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`;
          return line === undefined ? { path: '', message } : { line, path: '', message };
        }),
      };
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 1000 });
    } catch (error) {
      return { syntaxErrors: [{ path: '', message: `invalid YAML: ${(error as Error).message}` }] };
    }
    return { source: new YamlSource(document, lines, value ?? null) };
  }

  /**
   * The line of the field at `path`: the line of its key when it is a mapping entry, of the item when it is a
   * list entry; for a path that does not exist, the line of the deepest part that does.
   */
  lineOf(path: FieldPath): number | undefined {
    let node: unknown = this.document.contents;
    let line = this.lineAt(node) ?? 1;
    for (const segment of path) {
      node = this.resolve(node);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return line;
        line = this.lineAt(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item === undefined) return line;
        line = this.lineAt(item) ?? line;
        node = item;
      } else {
        return line;
      }
    }
    return line;
  }

  /** The source text of the scalar at `path` (`1.10` stays `1.10`), or undefined when it is not a scalar. */
  scalarSource(path: FieldPath): string | undefined {
    let node: unknown = this.document.contents;
    for (const segment of path) {
      node = this.resolve(node);
      if (isMap(node)) {
        node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment))?.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
      } else {
        return undefined;
      }
    }
    node = this.resolve(node);
    return isScalar(node) ? node.source : undefined;
  }

  private resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.document) : node;
  }

  private lineAt(node: unknown): number | undefined {
    const range = (node as Node | undefined)?.range;
    return range ? this.lines.linePos(range[0]).line : undefined;
  }
}
