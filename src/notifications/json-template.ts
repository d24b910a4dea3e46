import { Invalid } from '../platform/errors.js';

const inlinePath = /\$\{([^}]*)\}/g;
const wholePath = /^\$\{([^}]*)\}$/;
const pathSyntax = /^[A-Za-z_$][\w$-]*(?:\.[A-Za-z_$][\w$-]*|\[\d+\])*$/;

/**
 * A webhook's `template` (Quay util/jsontemplate.py): a JSON document whose strings may
 * contain `${path}` expressions (`repository`, `updated_tags[0]`, `trigger_metadata.ref`).
 * A string that is one expression takes the value itself; inside text, values are joined
 * with commas and missing ones read `(none)`.
 */
export class JsonTemplate {
  private readonly parsed: unknown;

  /** Throws Invalid naming `field` when the template is not JSON or has a malformed expression. */
  constructor(source: string, field: string) {
    try {
      this.parsed = JSON.parse(source);
    } catch (err) {
      throw new Invalid('INVALID_TEMPLATE', `${field}: Could not parse template: ${(err as Error).message}`, {
        field,
      });
    }
    const check = (node: unknown): void => {
      if (typeof node === 'string') {
        for (const m of node.matchAll(inlinePath)) {
          if (!pathSyntax.test(m[1]!.trim()))
            throw new Invalid('INVALID_TEMPLATE', `${field}: invalid expression \`${m[1]}\``, { field });
        }
      } else if (Array.isArray(node)) node.forEach(check);
      else if (node && typeof node === 'object')
        for (const [k, v] of Object.entries(node)) {
          check(k);
          check(v);
        }
    };
    check(this.parsed);
  }

  apply(data: unknown): unknown {
    const visit = (node: unknown): unknown => {
      if (typeof node === 'string') return substitute(node, data);
      if (Array.isArray(node)) return node.map(visit);
      if (node && typeof node === 'object')
        return Object.fromEntries(
          Object.entries(node).map(([k, v]) => [String(substitute(k, data)), visit(v)]),
        );
      return node;
    };
    return visit(this.parsed);
  }
}

function lookup(path: string, data: unknown): unknown {
  let current: unknown = data;
  for (const part of path.trim().match(/[^.[\]]+/g) ?? []) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function substitute(value: string, data: unknown): unknown {
  const whole = wholePath.exec(value);
  if (whole) return lookup(whole[1]!, data) ?? null;
  return value.replace(inlinePath, (_m, path: string) => {
    const found = lookup(path, data);
    if (found === undefined || found === null) return '(none)';
    return Array.isArray(found)
      ? found.map(String).join(',')
      : typeof found === 'object'
        ? JSON.stringify(found)
        : String(found);
  });
}
