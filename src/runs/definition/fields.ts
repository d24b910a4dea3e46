import { Type } from '@sinclair/typebox';
import { ENV_NAME_PATTERN, type Filter } from '../model.js';
import type { FieldPath, IssueCollector } from './issues.js';
import { checkShape, isMapping, withoutNulls, type ShapeOptions } from './shape.js';
import type { YamlSource } from './yaml-source.js';

/** Field readers both definition formats share. Each reports its problems at the field and returns its best reading. */

export interface ReadContext extends ShapeOptions {
  issues: IssueCollector;
  /** Present when the definition came from YAML text: numbers keep their written form (`1.10`). */
  source?: YamlSource;
}

/** The text of a scalar: a string as it is, a number or boolean as written; undefined for anything else. */
export function scalarText(value: unknown, path: FieldPath, ctx: ReadContext): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') {
    return ctx.source?.scalarSource(path) ?? String(value);
  }
  return undefined;
}

const FilterShape = Type.Object(
  { include: Type.Optional(Type.Unknown()), exclude: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);

/**
 * A filter written as one value (`main`), a list (`[main, dev]`) or a mapping (`{include: [...], exclude:
 * [...]}`, each a value or a list). `check` returns why an entry is invalid.
 */
export function readFilter(
  value: unknown,
  path: FieldPath,
  ctx: ReadContext,
  check: (entry: string) => string | undefined,
): Filter {
  const list = (raw: unknown, at: FieldPath): string[] => {
    if (raw === undefined || raw === null) return [];
    const entries = Array.isArray(raw) ? raw : [raw];
    const out: string[] = [];
    entries.forEach((entry, i) => {
      const entryPath = Array.isArray(raw) ? [...at, i] : at;
      const text = scalarText(entry, entryPath, ctx);
      if (text === undefined) {
        ctx.issues.error(entryPath, 'must be a string');
        return;
      }
      const problem = check(text);
      if (problem) ctx.issues.error(entryPath, problem);
      else out.push(text);
    });
    return out;
  };
  if (isMapping(value)) {
    const mapping = withoutNulls(value) as Record<string, unknown>;
    checkShape(FilterShape, mapping, path, ctx.issues, ctx);
    return {
      include: list(mapping.include, [...path, 'include']),
      exclude: list(mapping.exclude, [...path, 'exclude']),
    };
  }
  if (Array.isArray(value) || scalarText(value, path, ctx) !== undefined) {
    return { include: list(value, path), exclude: [] };
  }
  ctx.issues.error(path, 'must be a string, a list or a mapping with include and exclude');
  return { include: [], exclude: [] };
}

/**
 * A mapping of variable names to values; values may be written as numbers or booleans (kept as written) and
 * an empty value is an empty string.
 */
export function readVariables(
  value: unknown,
  path: FieldPath,
  ctx: ReadContext,
  reserved: (name: string) => string | undefined = () => undefined,
): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) {
    ctx.issues.error(path, 'must be a mapping of names to values');
    return {};
  }
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(value)) {
    const at = [...path, name];
    const problem = variableNameProblem(name) ?? reserved(name);
    if (problem) {
      ctx.issues.error(at, problem);
      continue;
    }
    const text = raw === null ? '' : scalarText(raw, at, ctx);
    if (text === undefined) ctx.issues.error(at, 'must be a string');
    else out[name] = text;
  }
  return out;
}

export function variableNameProblem(name: string): string | undefined {
  return ENV_NAME_PATTERN.test(name)
    ? undefined
    : `"${name}" is not a variable name (letters, digits and "_", not starting with a digit)`;
}

/** A relative path inside the workspace, normalized (`./a//b/` → `a/b`, `` → `.`); undefined when it escapes. */
export function workspacePath(raw: string): string | undefined {
  if (raw.startsWith('/') || raw.startsWith('\\')) return undefined;
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return undefined;
  return parts.length === 0 ? '.' : parts.join('/');
}

const PLACEHOLDER = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/g;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REGISTRY_HOST = /^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?=:))(?::\d{1,5})?$/;

/** Placeholders stand for valid text: only the written parts of a templated name are checked. */
function filled(value: string): string {
  return value.replace(PLACEHOLDER, 'x');
}

export function repositoryProblem(value: string): string | undefined {
  return REPOSITORY.test(filled(value))
    ? undefined
    : `"${value}" is not a repository name (lower-case path such as team/app)`;
}

export function tagProblem(value: string): string | undefined {
  return TAG.test(filled(value))
    ? undefined
    : `"${value}" is not an image tag (up to 128 letters, digits, "_", "." or "-")`;
}

/** A local image name, `name` or `name:tag`. */
export function localImageProblem(value: string): string | undefined {
  const [name = '', tag, ...rest] = value.split(':');
  if (
    rest.length > 0 ||
    REPOSITORY.test(filled(name)) === false ||
    (tag !== undefined && !TAG.test(filled(tag)))
  ) {
    return `"${value}" is not an image name (such as web or web:1.0)`;
  }
  return undefined;
}

export function registryHostProblem(value: string): string | undefined {
  return REGISTRY_HOST.test(value)
    ? undefined
    : `"${value}" is not a registry host (such as ghcr.io or localhost:5000)`;
}

/** An image reference to run, as a container tool takes it (`node:20`, `ghcr.io/a/b@sha256:...`). */
export function imageReferenceProblem(value: string): string | undefined {
  return /^[^\s]+$/.test(value) ? undefined : `"${value}" is not an image reference`;
}

/** The first line of a script, shortened: the name of a step that has none. */
export function scriptTitle(script: string): string {
  const first =
    script
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? 'script';
  return first.length > 60 ? `${first.slice(0, 57)}...` : first;
}
