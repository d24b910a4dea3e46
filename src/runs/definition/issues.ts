import { Invalid } from '../../platform/errors.js';
import type { Pipeline } from '../model.js';

/** A path into a definition: mapping keys and list indexes, `['stages', 1, 'jobs', 'build']`. */
export type FieldPath = (string | number)[];

/** One problem of a definition, located by its line (1-based, when the definition came from text) and field. */
export interface DefinitionIssue {
  line?: number;
  /** `stages[1].jobs.build.steps[0].image`; empty for the whole file. */
  path: string;
  message: string;
}

/** What a definition parser returns: the model and what it ignored (never an error). */
export interface ParsedPipeline {
  pipeline: Pipeline;
  warnings: DefinitionIssue[];
}

/** `line 12: stages[1].jobs.build.steps[0].image: must be a string` */
export function formatIssue(issue: DefinitionIssue): string {
  const line = issue.line === undefined ? '' : `line ${issue.line}: `;
  const path = issue.path === '' ? '' : `${issue.path}: `;
  return `${line}${path}${issue.message}`;
}

/** A definition that cannot become a pipeline; `issues` holds every error found, in file order. */
export class PipelineDefinitionError extends Invalid {
  constructor(
    readonly file: string | undefined,
    readonly issues: DefinitionIssue[],
  ) {
    super(
      'PIPELINE_DEFINITION_INVALID',
      `invalid pipeline definition${file ? ` ${file}` : ''}:\n${issues.map(formatIssue).join('\n')}`,
      { file, issues },
    );
  }
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['stages', 1, 'jobs', 'build.x']` → `stages[1].jobs["build.x"]` */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Finds the line of a field; definitions built from API objects have none. */
export interface LineLocator {
  lineOf(path: FieldPath): number | undefined;
}

/** Collects errors and warnings while a definition is read; one error per field, the first one found. */
export class IssueCollector {
  private readonly errorList: (DefinitionIssue & { order: number })[] = [];
  private readonly warningList: (DefinitionIssue & { order: number })[] = [];
  private readonly errorPaths = new Set<string>();
  private count = 0;

  constructor(private readonly locator?: LineLocator) {}

  error(path: FieldPath, message: string): void {
    const formatted = formatPath(path);
    if (this.errorPaths.has(formatted)) return;
    this.errorPaths.add(formatted);
    this.errorList.push({ ...this.locate(path, formatted), message, order: this.count++ });
  }

  warn(path: FieldPath, message: string): void {
    this.warningList.push({ ...this.locate(path, formatPath(path)), message, order: this.count++ });
  }

  hasErrorAt(path: FieldPath): boolean {
    return this.errorPaths.has(formatPath(path));
  }

  /** Whether an error is already reported at `path`, at a field holding it, or at a field inside it. */
  hasErrorAround(path: FieldPath): boolean {
    const formatted = formatPath(path);
    if (formatted === '' && this.errorPaths.size > 0) return true;
    for (const other of this.errorPaths) {
      if (other === '') return true;
      const [shorter, longer] = other.length <= formatted.length ? [other, formatted] : [formatted, other];
      if (
        longer.startsWith(shorter) &&
        (longer.length === shorter.length || '.['.includes(longer[shorter.length] as string))
      ) {
        return true;
      }
    }
    return false;
  }

  get errorCount(): number {
    return this.errorList.length;
  }

  /** Errors sorted by line (then by when they were found). */
  get errors(): DefinitionIssue[] {
    return sortIssues(this.errorList);
  }

  get warnings(): DefinitionIssue[] {
    return sortIssues(this.warningList);
  }

  private locate(path: FieldPath, formatted: string): { line?: number; path: string } {
    const line = this.locator?.lineOf(path);
    return line === undefined ? { path: formatted } : { line, path: formatted };
  }
}

function sortIssues(list: (DefinitionIssue & { order: number })[]): DefinitionIssue[] {
  return [...list]
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.order - b.order)
    .map(({ order: _order, ...issue }) => issue);
}
