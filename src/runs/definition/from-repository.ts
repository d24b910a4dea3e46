/**
 * Pipelines as code: the definition is a file in the source repository (`.rancher-pipeline.yml`), read at the
 * commit a run builds, through the one way Slipway talks to git remotes (src/runs/git: outbound policy, address
 * pinning, stored credentials).
 */
import { Invalid, NotFound } from '../../platform/errors.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import {
  checkCloneUrl,
  readCommitFile,
  redactUrl,
  resolveBranch,
  type NamedGitCredential,
} from '../git/index.js';
import type { ParsedPipeline } from './issues.js';
import { parseRancherPipeline, RANCHER_PIPELINE_FILES } from './rancher-yaml.js';

/** The definition a run follows, as read from the repository. */
export interface RepositoryDefinition extends ParsedPipeline {
  file: string;
  source: string;
  commit: string;
}

export interface FromRepositoryOptions {
  /** Clone URLs must reach only addresses this policy allows. */
  outbound: OutboundPolicy;
  /** Default `git` on PATH. */
  git?: string;
}

/** Refuses clone URLs the outbound policy forbids (`checkCloneUrl`), naming `field` in the error. */
export async function checkRepositoryUrl(
  outbound: OutboundPolicy,
  url: string,
  field = 'repositoryUrl',
): Promise<void> {
  if (url === '' || url.startsWith('-'))
    throw new Invalid('INVALID_URL', `${field}: not a repository URL`, { field });
  await namingField(checkCloneUrl(outbound, url), field);
}

export class RepositoryReader {
  constructor(private readonly options: FromRepositoryOptions) {}

  /** The commit `branch` (default: the remote's HEAD) points at, and the branch's name. */
  async resolveBranch(
    repoUrl: string,
    branch?: string,
    credential?: NamedGitCredential,
  ): Promise<{ commit: string; branch: string }> {
    await checkRepositoryUrl(this.options.outbound, repoUrl);
    return namingField(resolveBranch(repoUrl, branch, this.access(credential)), 'repositoryUrl');
  }

  /**
   * Reads the pipeline file at `commit` (fetched alone, shallow; `ref` is fetched instead when the server does not
   * give out commits by id) and parses it. Throws `NotFound` when the commit holds no pipeline file and the
   * parser's `PipelineDefinitionError` (line and field of each problem) when it is invalid.
   */
  async read(
    repoUrl: string,
    commit: string,
    options: {
      ref?: string;
      name?: string;
      credential?: NamedGitCredential;
    } = {},
  ): Promise<RepositoryDefinition> {
    await checkRepositoryUrl(this.options.outbound, repoUrl);
    const found = await namingField(
      readCommitFile(repoUrl, commit, RANCHER_PIPELINE_FILES, {
        ...this.access(options.credential),
        ...(options.ref ? { ref: options.ref } : {}),
      }),
      'repositoryUrl',
    );
    if (!found)
      throw new NotFound(
        'PIPELINE_FILE_NOT_FOUND',
        `commit ${commit.slice(0, 12)} of ${redactUrl(repoUrl)} has no ${RANCHER_PIPELINE_FILES.join(' or ')}`,
      );
    const parsed = parseRancherPipeline(found.source, { file: found.file, name: options.name });
    return { ...parsed, file: found.file, source: found.source, commit };
  }

  private access(credential: NamedGitCredential | undefined) {
    return {
      outbound: this.options.outbound,
      ...(this.options.git ? { git: this.options.git } : {}),
      ...(credential ? { credential } : {}),
    };
  }
}

/** `work`'s Invalid errors name `field` unless they name one already. */
async function namingField<T>(work: Promise<T>, field: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof Invalid && (error.detail as { field?: string } | undefined)?.field === undefined)
      throw new Invalid(error.code, error.message, { ...(error.detail as object | undefined), field });
    throw error;
  }
}
