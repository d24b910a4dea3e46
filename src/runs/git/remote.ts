/**
 * Talking to git remotes outside a run's workspace: listing a remote's refs (`git ls-remote`), resolving a
 * branch, reading a file of a commit. Each call passes the outbound policy first (`checkRemote`), is pinned to
 * the addresses that were checked, and authenticates with a stored credential as checkout steps do (`gitAuth`).
 * Errors are `Invalid` with git's own words, the URL's user info and the credential's secret hidden.
 */
import { execFile } from 'node:child_process';
import dns from 'node:dns/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Invalid, NotFound } from '../../platform/errors.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import {
  GitAuthProblem,
  gitAuth,
  gitEnvironment,
  hideSecrets,
  type GitAuth,
  type NamedGitCredential,
} from './auth.js';
import { checkCloneUrl, parseCloneUrl, redactUrl } from './clone-url.js';

/** The refs a remote advertises (`refs/heads/main` → sha) and the branch its HEAD points to. */
export interface RemoteRefs {
  refs: Map<string, string>;
  defaultBranch?: string;
}

export interface RemoteAccess {
  /** The remote must be one this policy lets Slipway reach (local paths count as loopback). */
  outbound: OutboundPolicy;
  /** A stored credential of the namespace the call is made for. */
  credential?: NamedGitCredential;
  /** Default `git` on PATH. */
  git?: string;
  /** Per git call. Default 60 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const FULL_COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Checks `url` against the outbound policy (`checkCloneUrl`) and returns the git configuration that pins an
 * http(s) host name to the addresses just checked (`http.curloptResolve`), so that the name cannot be rebound to
 * an internal address before git connects. Throws `Invalid` (CLONE_URL_NOT_ALLOWED).
 */
export async function checkRemote(outbound: OutboundPolicy, url: string): Promise<Array<[string, string]>> {
  await checkCloneUrl(outbound, url);
  const parsed = parseCloneUrl(url);
  if (parsed.transport !== 'http' || parsed.host === undefined || isIP(parsed.host)) return [];
  const { host } = parsed;
  const refuse = (why: string): never => {
    throw new Invalid('CLONE_URL_NOT_ALLOWED', `clone URL ${redactUrl(url)} may not be reached: ${why}`);
  };
  const addresses =
    host === 'localhost' || host.endsWith('.localhost')
      ? ['127.0.0.1']
      : (await dns.lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  if (addresses.length === 0) refuse(`${host} cannot be resolved`);
  const refused = addresses.find((address) => !outbound.allowsAddress(address));
  if (refused !== undefined) refuse(`${host} resolves to ${refused}, an internal address`);
  const target = new URL(url);
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  const listed = addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
  return [['http.curloptResolve', `${host}:${port}:${listed}`]];
}

/** `git ls-remote --symref <url>`: every ref the remote advertises and its default branch. */
export async function lsRemote(url: string, access: RemoteAccess): Promise<RemoteRefs> {
  const output = await withRemote(url, access, (git) => git(['ls-remote', '--symref', '--', url]));
  const refs = new Map<string, string>();
  let defaultBranch: string | undefined;
  for (const line of output.split('\n')) {
    const symref = /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(line);
    if (symref) defaultBranch = symref[1];
    const ref = /^([0-9a-f]{40}(?:[0-9a-f]{24})?)\t(\S+)$/.exec(line);
    if (ref) refs.set(ref[2]!, ref[1]!);
  }
  return { refs, ...(defaultBranch ? { defaultBranch } : {}) };
}

/**
 * The commit `branch` (default: the remote's HEAD) points at, and the branch's name. NotFound
 * (BRANCH_NOT_FOUND) when the remote has no such branch.
 */
export async function resolveBranch(
  url: string,
  branch: string | undefined,
  access: RemoteAccess,
): Promise<{ commit: string; branch: string }> {
  const remote = await lsRemote(url, access);
  const commit = remote.refs.get(branch ? `refs/heads/${branch}` : 'HEAD');
  if (!commit)
    throw new NotFound(
      'BRANCH_NOT_FOUND',
      `${branch ? `branch ${branch}` : 'the default branch'} not found in ${redactUrl(url)}`,
    );
  return { commit, branch: branch ?? remote.defaultBranch ?? 'master' };
}

/**
 * The commit a tag (peeled: an annotated tag's commit) or else a branch (default: the remote's HEAD) points at,
 * with the branch's name for branches. NotFound (TAG_NOT_FOUND, BRANCH_NOT_FOUND) when the remote has no such ref.
 */
export async function resolveRef(
  url: string,
  ref: { branch?: string; tag?: string },
  access: RemoteAccess,
): Promise<{ commit: string; branch?: string }> {
  if (ref.tag === undefined) return resolveBranch(url, ref.branch, access);
  const { refs } = await lsRemote(url, access);
  const commit = refs.get(`refs/tags/${ref.tag}^{}`) ?? refs.get(`refs/tags/${ref.tag}`);
  if (!commit) throw new NotFound('TAG_NOT_FOUND', `tag ${ref.tag} not found in ${redactUrl(url)}`);
  return { commit };
}

/**
 * The first of `files` that `commit` holds, read without a checkout: the commit alone is fetched shallow into a
 * temporary bare repository (or `ref`, when the server does not give out commits by id), `git show` reads the
 * file, and the directory is removed. Undefined when the commit holds none of them.
 */
export async function readCommitFile(
  url: string,
  commit: string,
  files: readonly string[],
  access: RemoteAccess & { ref?: string },
): Promise<{ file: string; source: string } | undefined> {
  if (!FULL_COMMIT.test(commit))
    throw new Invalid('INVALID_COMMIT', `not a full commit id: ${JSON.stringify(commit)}`, {
      field: 'commit',
    });
  const dir = await mkdtemp(join(tmpdir(), 'slipway-git-read-'));
  try {
    return await withRemote(
      url,
      access,
      async (git) => {
        await git(['init', '--quiet', '--bare']);
        try {
          await git(['fetch', '--quiet', '--depth', '1', '--', url, commit]);
        } catch (error) {
          if (!access.ref) throw error;
          await git(['fetch', '--quiet', '--depth', '50', '--', url, access.ref]);
        }
        for (const file of files) {
          const source = await git(['show', `${commit}:${file}`]).catch(() => undefined);
          if (source !== undefined) return { file, source };
        }
        return undefined;
      },
      dir,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Git = (args: string[]) => Promise<string>;

/** Runs `work` with a git that talks to `url` as `access` says: checked, pinned, authenticated. */
async function withRemote<T>(
  url: string,
  access: RemoteAccess,
  work: (git: Git) => Promise<T>,
  cwd?: string,
): Promise<T> {
  if (url === '' || url.startsWith('-'))
    throw new Invalid('INVALID_CLONE_URL', `not a repository URL: ${JSON.stringify(redactUrl(url))}`);
  const pin = await checkRemote(access.outbound, url);
  let auth: GitAuth | undefined;
  if (access.credential) {
    try {
      auth = await gitAuth(access.credential, url);
    } catch (error) {
      if (error instanceof GitAuthProblem) throw new Invalid('GIT_CREDENTIAL_UNUSABLE', error.message);
      throw error;
    }
  }
  const env = gitEnvironment(
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    },
    auth,
    pin,
  );
  const command = access.git ?? 'git';
  const timeout = access.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const git: Git = (args) =>
    new Promise((resolve, reject) => {
      execFile(command, args, { cwd, env, timeout, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const why = error.killed ? 'timed out' : `${stderr || error.message}`.trim();
        reject(new Invalid('GIT_FAILED', `git ${args[0]} failed: ${hideSecrets(why, url, auth)}`));
      });
    });
  try {
    return await work(git);
  } finally {
    await auth?.cleanup();
  }
}
