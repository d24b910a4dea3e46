/**
 * How every git call Slipway makes (checkout steps, `ls-remote`, reading a commit's file) authenticates with a
 * stored git credential, so that a credential works the same everywhere and is never in argv, the URL, a log or
 * a repository's configuration:
 *
 * - token / basic: an `Authorization: Basic` header confined to the URL's origin (`http.<origin>.extraHeader`),
 *   given to git as configuration through its environment (GIT_CONFIG_COUNT/KEY/VALUE). curl drops it on a
 *   redirect to another host; submodule hosts never see it.
 * - ssh-key: the key in a 0600 file in a private temporary directory, named by GIT_SSH_COMMAND, removed by
 *   `cleanup`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKEN_USERNAME, type GitCredential } from '../credentials/index.js';
import { parseCloneUrl, redactUrl } from './clone-url.js';

/** A stored credential opened for use, with the name it is stored under (for messages). */
export type NamedGitCredential = GitCredential & { name: string };

/** What git needs for a stored credential: environment, configuration, strings to hide, files to remove. */
export interface GitAuth {
  env: Record<string, string>;
  /** Git configuration (key, value) for the calls made with this credential. */
  config: Array<[string, string]>;
  /** The secret in every form git might print it. */
  hide: string[];
  cleanup: () => Promise<void>;
}

/** Thrown (as a message) when a credential cannot be used for a URL: the caller reports it in its own terms. */
export class GitAuthProblem extends Error {}

/**
 * The GitAuth of `credential` for talking to `repoUrl`. Throws `GitAuthProblem` when the credential does not fit
 * the URL (a token for an ssh URL, a key for an http one) or the key cannot be written.
 */
export async function gitAuth(
  credential: NamedGitCredential,
  repoUrl: string,
  options: { tempDir?: string } = {},
): Promise<GitAuth> {
  const { name } = credential;
  let url;
  try {
    url = parseCloneUrl(repoUrl);
  } catch (error) {
    throw new GitAuthProblem(
      `invalid repository URL ${redactUrl(repoUrl)}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (credential.kind === 'ssh-key') {
    if (url.transport !== 'ssh')
      throw new GitAuthProblem(
        `git credential "${name}" is an ssh key; the repository URL is not an ssh URL`,
      );
    const dir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'slipway-git-'));
    const keyFile = join(dir, 'key');
    try {
      if (keyFile.includes("'")) throw new Error(`the temporary directory ${dir} has a quote in its name`);
      await writeFile(keyFile, credential.secret, { mode: 0o600 });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw new GitAuthProblem(
        `cannot write the ssh key: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return {
      env: {
        // GIT_SSH_COMMAND is read by a shell: the path is quoted.
        GIT_SSH_COMMAND: `ssh -i '${keyFile}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o BatchMode=yes`,
      },
      config: [],
      hide: [credential.secret],
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (url.transport !== 'http' || url.origin === undefined)
    throw new GitAuthProblem(
      `git credential "${name}" is a ${credential.kind} credential; the repository URL is not an http(s) URL`,
    );
  const basic = Buffer.from(`${credential.username ?? TOKEN_USERNAME}:${credential.secret}`).toString(
    'base64',
  );
  return {
    env: {},
    config: [[`http.${url.origin}.extraHeader`, `Authorization: Basic ${basic}`]],
    hide: [credential.secret, basic],
    cleanup: () => Promise.resolve(),
  };
}

/** Environment variables every git call starts with: git never prompts nor reads system configuration. */
export const GIT_QUIET_ENV: Readonly<Record<string, string>> = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  GIT_CONFIG_NOSYSTEM: '1',
  // Submodules and redirects cannot switch to remote helpers that run commands (ext::).
  GIT_ALLOW_PROTOCOL: 'http:https:ssh:git:file',
  LC_ALL: 'C',
};

/**
 * `base` with GIT_QUIET_ENV, the credential's environment, and `config` added to whatever configuration `base`
 * already gives through GIT_CONFIG_COUNT/KEY/VALUE.
 */
export function gitEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  auth: GitAuth | undefined,
  config: ReadonlyArray<readonly [string, string]> = [],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  Object.assign(env, GIT_QUIET_ENV, auth?.env);
  let count = Number(env.GIT_CONFIG_COUNT ?? 0) || 0;
  for (const [key, value] of [...config, ...(auth?.config ?? [])]) {
    env[`GIT_CONFIG_KEY_${count}`] = key;
    env[`GIT_CONFIG_VALUE_${count}`] = value;
    env.GIT_CONFIG_COUNT = String(++count);
  }
  return env;
}

/** `text` with the URL's user info and the credential's secrets replaced. */
export function hideSecrets(text: string, repoUrl: string, auth: GitAuth | undefined): string {
  let out = text.split(repoUrl).join(redactUrl(repoUrl));
  for (const secret of auth?.hide ?? []) out = out.split(secret).join('***');
  return out;
}
