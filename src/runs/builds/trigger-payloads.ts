/**
 * Push payloads of Quay build triggers, mapped to Quay's trigger metadata (buildtrigger/basehandler.py
 * METADATA_SCHEMA), and the tags a trigger build pushes (basehandler `_determine_tags`). Pure functions, no
 * database, no HTTP framework.
 *
 * GitHub, GitLab and Bitbucket pushes go through the runs context's webhook parser (`mapWebhook`) for the
 * commit, ref and clone URL, so both read payloads alike; this module only adds what Quay shows besides (the
 * default branch and `commit_info`). custom-git has its own schema `{commit, ref, default_branch,
 * commit_info?}` and also accepts the three hosts' payloads when their event header comes along.
 */
import { Invalid } from '../../platform/errors.js';
import {
  EVENT_HEADERS,
  invalid,
  mapWebhook,
  optional as at,
  parseBody,
  type Payload,
  type WebhookRequest,
} from '../triggers/webhooks.js';

export const BUILD_TRIGGER_SERVICES = ['github', 'gitlab', 'bitbucket', 'custom-git'] as const;
export type BuildTriggerService = (typeof BUILD_TRIGGER_SERVICES)[number];

export interface CommitPerson {
  username: string;
  url?: string;
  avatar_url?: string;
}

export interface CommitInfo {
  url?: string;
  message?: string;
  date?: string;
  author?: CommitPerson;
  committer?: CommitPerson;
}

/** Quay's trigger metadata, stored with each trigger build and shown as its `trigger_metadata`. */
export interface TriggerMetadata {
  commit: string;
  git_url: string;
  /** Absent for a manual custom-git start at a bare commit. */
  ref?: string;
  default_branch?: string;
  commit_info?: CommitInfo;
}

/** A push to build, or why it starts nothing (still answered "Okay": the sender did nothing wrong). */
export type ParsedPush = { skip: string } | { metadata: TriggerMetadata };

const HEX_COMMIT = /^[0-9a-f]{7,64}$/i;
const CUSTOM_REF = /^refs\/(heads|tags|remotes)\/.+$/;

/**
 * Reads a webhook body sent to a trigger of `service`. `gitUrl` is the trigger's configured source (custom-git
 * payloads name none). Throws `Invalid` (WEBHOOK_PAYLOAD_INVALID) naming the field for a body that cannot be
 * read.
 */
export function parseTriggerPayload(
  service: BuildTriggerService,
  request: WebhookRequest,
  gitUrl: string,
): ParsedPush {
  if (service === 'custom-git') {
    const host = hostOfHeaders(request.headers);
    return host ? parseHostPush(host, request) : parseCustomGit(request, gitUrl);
  }
  return parseHostPush(service, request);
}

function hostOfHeaders(headers: WebhookRequest['headers']): 'github' | 'gitlab' | 'bitbucket' | undefined {
  for (const host of ['github', 'gitlab', 'bitbucket'] as const)
    if (headers[EVENT_HEADERS[host].toLowerCase()] !== undefined) return host;
  return undefined;
}

function parseHostPush(host: 'github' | 'gitlab' | 'bitbucket', request: WebhookRequest): ParsedPush {
  const outcome = mapWebhook(host, request);
  if ('ignore' in outcome) return { skip: outcome.ignore };
  // Quay builds the first ref of a push (a Bitbucket push may carry several).
  const context = outcome.contexts[0];
  if (context.event !== 'push' && context.event !== 'tag')
    return { skip: `a ${context.event} event starts no build` };
  // The body as `mapWebhook` read it: only GitHub's may come form-encoded.
  const payload = parseBody(request, host === 'github');
  // Quay's GitHub handler skips pushes without a head commit (a branch created at an existing commit).
  if (host === 'github' && at(payload, 'head_commit') === null)
    return { skip: 'the push has no head commit' };
  const ref = context.ref ?? (context.tag ? `refs/tags/${context.tag}` : `refs/heads/${context.branch}`);
  const metadata: TriggerMetadata = { commit: context.commit, git_url: context.repoUrl, ref };
  const defaultBranch =
    host === 'github'
      ? (str(payload, 'repository.default_branch') ?? str(payload, 'repository.master_branch'))
      : host === 'gitlab'
        ? str(payload, 'project.default_branch')
        : str(payload, 'repository.mainbranch.name');
  if (defaultBranch) metadata.default_branch = defaultBranch;
  const info = commitInfoOf(host, payload, context.commit);
  if (info) metadata.commit_info = info;
  return { metadata };
}

/** `commit_info` as Quay's handlers fill it from each host's payload; undefined when the payload has none. */
function commitInfoOf(host: 'github' | 'gitlab' | 'bitbucket', payload: Payload, commit: string) {
  const person = (username: string | undefined, url?: string, avatar?: string): CommitPerson | undefined =>
    username ? { username, ...(url ? { url } : {}), ...(avatar ? { avatar_url: avatar } : {}) } : undefined;
  let info: CommitInfo;
  if (host === 'github') {
    if (typeof at(payload, 'head_commit') !== 'object' || at(payload, 'head_commit') === null)
      return undefined;
    const author = str(payload, 'head_commit.author.username');
    const committer = str(payload, 'head_commit.committer.username');
    info = {
      url: str(payload, 'head_commit.url'),
      message: str(payload, 'head_commit.message'),
      date: str(payload, 'head_commit.timestamp'),
      author: person(
        author,
        author ? `https://github.com/${author}` : undefined,
        author === str(payload, 'sender.login') ? str(payload, 'sender.avatar_url') : undefined,
      ),
      committer: person(committer, committer ? `https://github.com/${committer}` : undefined),
    };
  } else if (host === 'gitlab') {
    const commits = at(payload, 'commits');
    const index = Array.isArray(commits)
      ? commits.findIndex((c) => (c as Payload | null)?.id === commit)
      : -1;
    if (index < 0) return undefined;
    info = {
      url: str(payload, `commits.${index}.url`),
      message: str(payload, `commits.${index}.message`),
      date: str(payload, `commits.${index}.timestamp`),
      author: person(str(payload, 'user_username'), undefined, str(payload, 'user_avatar')),
    };
  } else {
    const target = 'push.changes.0.new.target';
    if (typeof at(payload, target) !== 'object') return undefined;
    info = {
      url: str(payload, `${target}.links.html.href`),
      message: str(payload, `${target}.message`),
      date: str(payload, `${target}.date`),
      author: person(
        str(payload, `${target}.author.user.nickname`) ?? str(payload, `${target}.author.user.display_name`),
        str(payload, `${target}.author.user.links.html.href`),
        str(payload, `${target}.author.user.links.avatar.href`),
      ),
    };
  }
  return withoutUndefined(info);
}

/** custom-git's own schema (buildtrigger/customhandler.py): `{commit, ref, default_branch, commit_info?}`. */
function parseCustomGit(request: WebhookRequest, gitUrl: string): ParsedPush {
  const payload = parseBody(request, false);
  const commit = at(payload, 'commit');
  if (typeof commit !== 'string' || !HEX_COMMIT.test(commit))
    throw invalid('commit', 'is missing or not a hexadecimal commit id of at least 7 digits');
  const ref = at(payload, 'ref');
  if (typeof ref !== 'string' || !CUSTOM_REF.test(ref))
    throw invalid('ref', 'is missing or not refs/heads/..., refs/tags/... or refs/remotes/...');
  const defaultBranch = at(payload, 'default_branch');
  if (typeof defaultBranch !== 'string' || defaultBranch === '')
    throw invalid('default_branch', 'is missing or not a non-empty string');
  const metadata: TriggerMetadata = { commit: commit.toLowerCase(), git_url: gitUrl, ref };
  metadata.default_branch = defaultBranch;
  const info = at(payload, 'commit_info');
  if (info !== undefined && info !== null) metadata.commit_info = customCommitInfo(info);
  return { metadata };
}

function customCommitInfo(value: unknown): CommitInfo {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('commit_info', 'is not an object');
  const info = value as Payload;
  const text = (key: string): string | undefined => {
    const v = at(info, key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid(`commit_info.${key}`, 'is not a string');
    return v;
  };
  const person = (key: 'author' | 'committer'): CommitPerson | undefined => {
    const v = at(info, key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`commit_info.${key}`, 'is not an object');
    const username = text(`${key}.username`);
    if (!username) throw invalid(`commit_info.${key}.username`, 'is missing');
    const url = text(`${key}.url`);
    const avatar = text(`${key}.avatar_url`);
    return { username, ...(url ? { url } : {}), ...(avatar ? { avatar_url: avatar } : {}) };
  };
  return withoutUndefined({
    url: text('url'),
    message: text('message'),
    date: text('date'),
    author: person('author'),
    committer: person('committer'),
  });
}

// ---------------------------------------------------------------------------------------------------------
// What to build and under which tags

/** Quay skips a push whose commit message says so. */
export function skipReason(
  metadata: TriggerMetadata,
  branchtagRegex: string | undefined,
): string | undefined {
  const message = metadata.commit_info?.message ?? '';
  if (message.includes('[skip build]') || message.includes('[build skip]'))
    return 'the commit message asks to skip the build';
  if (branchtagRegex) {
    const short = (metadata.ref ?? '').replace(/^refs\//, '');
    if (!new RegExp(`^(?:${branchtagRegex})$`).test(short))
      return `${short} does not match branchtag_regex ${branchtagRegex}`;
  }
  return undefined;
}

/** Throws `Invalid` for a branchtag_regex that is not a regular expression. */
export function assertRegex(value: string, field: string): void {
  try {
    new RegExp(value);
  } catch (error) {
    throw new Invalid('TRIGGER_CONFIG_INVALID', `${field}: ${(error as Error).message}`, { field });
  }
}

export interface TagRules {
  tagTemplates: string[];
  defaultTagFromRef: boolean;
  latestForDefaultBranch: boolean;
}

/** `refs/heads/x` → {branch: x}, `refs/tags/v1` → {tag: v1}, `refs/remotes/o/x` → {remote: o/x}. */
export function parseRef(ref: string): { branch?: string; tag?: string; remote?: string } {
  const match = /^refs\/(heads|tags|remotes)\/(.+)$/.exec(ref);
  if (!match) return {};
  const name = match[2]!;
  return match[1] === 'heads' ? { branch: name } : match[1] === 'tags' ? { tag: name } : { remote: name };
}

const TEMPLATE_FIELD = /\$\{([A-Za-z0-9_.]+)\}/g;

/**
 * The tags of a trigger build (basehandler `_determine_tags`): each template expanded over the metadata (plus
 * `commit_info.short_sha` and `parsed_ref`), a template naming a missing field contributes nothing; the
 * branch or tag name when `defaultTagFromRef`; `latest` on the default branch when `latestForDefaultBranch`;
 * commit[:7] when nothing else is left. Names are made valid Docker tags; duplicates are dropped.
 */
export function determineTags(metadata: TriggerMetadata, rules: TagRules): string[] {
  const parsed = parseRef(metadata.ref ?? '');
  const data = {
    ...metadata,
    commit_info: { ...metadata.commit_info, short_sha: metadata.commit.slice(0, 7) },
    parsed_ref: parsed,
  };
  const tags: string[] = [];
  for (const template of rules.tagTemplates) {
    let missing = false;
    const expanded = template.replace(TEMPLATE_FIELD, (_, path: string) => {
      const value = at(data as unknown as Payload, path);
      if (typeof value !== 'string' && typeof value !== 'number') {
        missing = true;
        return '';
      }
      return String(value);
    });
    if (!missing) tags.push(expanded);
  }
  if (rules.defaultTagFromRef) {
    const name = parsed.branch ?? parsed.tag;
    if (name) tags.push(name);
  }
  if (rules.latestForDefaultBranch && parsed.branch && parsed.branch === metadata.default_branch)
    tags.push('latest');
  const valid = [...new Set(tags.map(dockerTag).filter((t): t is string => t !== undefined))];
  return valid.length > 0 ? valid : [metadata.commit.slice(0, 7)];
}

/** A Docker tag from any text: `feature/x` → `feature_x`; undefined when nothing usable is left. */
function dockerTag(text: string): string | undefined {
  const tag = text
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return tag === '' ? undefined : tag;
}

// ---------------------------------------------------------------------------------------------------------
// Payload reading

function str(payload: Payload, path: string): string | undefined {
  const value = at(payload, path);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
