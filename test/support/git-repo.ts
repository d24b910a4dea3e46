import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runOk } from './tools.js';

export const gitEnv = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
};

export interface GitRepo {
  path: string;
  git(...args: string[]): Promise<string>;
  /** Writes the files (path → content), commits them all and returns the new commit id. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
}

/** A local git repository (branch `main`) at `path`, with a first commit of `files` when given. */
export async function createGitRepo(path: string, files?: Record<string, string>): Promise<GitRepo> {
  await mkdir(path, { recursive: true });
  const git = async (...args: string[]) =>
    (await runOk('git', args, { cwd: path, env: { ...process.env, ...gitEnv } })).stdout.trim();
  await git('init', '--quiet', '-b', 'main');
  const repo: GitRepo = {
    path,
    git,
    async commit(contents, message = 'change') {
      for (const [file, text] of Object.entries(contents)) {
        await mkdir(dirname(join(path, file)), { recursive: true });
        await writeFile(join(path, file), text);
      }
      await git('add', '--all');
      await git('commit', '--quiet', '--allow-empty', '-m', message);
      return git('rev-parse', 'HEAD');
    },
  };
  if (files) await repo.commit(files, 'first');
  return repo;
}
