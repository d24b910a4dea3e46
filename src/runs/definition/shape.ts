import type { TObject, TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { FieldPath, IssueCollector } from './issues.js';

/**
 * Shape checks with TypeBox: `Value.Errors` finds what is missing, unknown or of the wrong type, and each
 * error becomes an issue at its field, worded for people writing YAML. A schema may carry `errorMessage` to
 * replace the wording of its own errors.
 */

export interface ShapeOptions {
  /** Unknown fields are errors (Slipway) or warnings that they are ignored (Rancher, which ignored them too). */
  unknownFields: 'error' | 'warn';
}

/** Checks `value` (found at `path`) against `schema`; true when it has no error (warnings aside). */
export function checkShape(
  schema: TSchema,
  value: unknown,
  path: FieldPath,
  issues: IssueCollector,
  options: ShapeOptions = { unknownFields: 'error' },
): boolean {
  let ok = true;
  for (const error of Value.Errors(schema, value)) {
    const field = [...path, ...pointerToPath(error.path, value)];
    if (error.type === ValueErrorType.ObjectAdditionalProperties) {
      const known = Object.keys((error.schema as TObject).properties ?? {});
      const name = String(field[field.length - 1]);
      const hint = suggest(name, known);
      const message = `unknown field${hint ? ` (did you mean ${hint}?)` : ''}`;
      if (options.unknownFields === 'warn') {
        issues.warn(field, `${message}, ignored`);
        continue;
      }
      issues.error(field, message);
    } else {
      issues.error(field, describe(error));
    }
    ok = false;
  }
  return ok;
}

function describe(error: ValueError): string {
  const schema = error.schema as TSchema & { errorMessage?: string };
  if (typeof schema.errorMessage === 'string') return schema.errorMessage;
  switch (error.type) {
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.StringMinLength:
      return schema.minLength === 1
        ? 'must not be empty'
        : `must have at least ${schema.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `must have at most ${schema.maxLength} characters`;
    case ValueErrorType.StringPattern:
      return `must match ${schema.pattern}`;
    case ValueErrorType.Boolean:
      return 'must be true or false';
    case ValueErrorType.Integer:
      return 'must be an integer';
    case ValueErrorType.Number:
      return 'must be a number';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${schema.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${schema.maximum}`;
    case ValueErrorType.Array:
      return 'must be a list';
    case ValueErrorType.ArrayMinItems:
      return schema.minItems === 1 ? 'must not be empty' : `must have at least ${schema.minItems} entries`;
    case ValueErrorType.Object:
      return 'must be a mapping';
    case ValueErrorType.ObjectMinProperties:
      return schema.minProperties === 1
        ? 'must not be empty'
        : `must have at least ${schema.minProperties} entries`;
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(schema.const)}`;
    default:
      return error.message;
  }
}

/** A JSON pointer of TypeBox (`/steps/0/image`) as a path, indexes as numbers where the value has a list. */
function pointerToPath(pointer: string, root: unknown): FieldPath {
  if (pointer === '') return [];
  const path: FieldPath = [];
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(key)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}

/** The closest of `candidates` to a misspelt `word`, when one is close enough to be what was meant. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Edit distance where swapping two neighbouring letters counts as one edit (`imgae` → `image`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const above = rows[i - 1] as number[];
      let best = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1);
      best = Math.min(best, (above[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** A copy of a mapping without its null entries (`env:` with nothing after it means no env). */
export function withoutNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
