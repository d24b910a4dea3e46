import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Invalid, Unauthenticated } from '../../platform/errors.js';
import type { TriggerContext } from '../model.js';

/**
 * Webhooks of source hosts: verification of the sender and mapping of the payload to the `TriggerContext` of
 * the runs it starts. Pure functions over the raw request; no database, no HTTP framework.
 *
 * Contract: `receiveWebhook` first verifies the signature (or token) over the exact bytes received, and only
 * then parses them. A bad or missing signature throws `Unauthenticated` (WEBHOOK_SIGNATURE_INVALID); a
 * payload that is not JSON, or lacks a field the event needs, throws `Invalid` (WEBHOOK_PAYLOAD_INVALID)
 * whose message and `detail.field` name the field. Events that start nothing (a ping, a deleted branch, a
 * closed pull request, an event Slipway does not handle) are `{ignore: reason}`, never errors: the sender
 * would otherwise retry them and flag the hook as failing.
 */

export const WEBHOOK_PROVIDERS = ['github', 'gitlab', 'bitbucket', 'gitea', 'generic'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

/** What a webhook request is made of. Header names are lower-case, as Node gives them. */
export interface WebhookRequest {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
}

/**
 * Runs to start (one per context; a Bitbucket push may carry several refs) or why none starts.
 * `repoUrl` is empty only for a generic hook that names no repository: the pipeline's own source then applies.
 */
export type WebhookOutcome = { ignore: string } | { contexts: [TriggerContext, ...TriggerContext[]] };

/**
 * Verifies `request` with the trigger's `secret` and maps it. `secret` is null only for a Bitbucket trigger
 * created without one (Bitbucket Cloud sends no signature then); every other provider requires it.
 */
export function receiveWebhook(
  provider: WebhookProvider,
  request: WebhookRequest,
  secret: string | null,
): WebhookOutcome {
  verifyWebhook(provider, request, secret);
  return mapWebhook(provider, request);
}

// ---------------------------------------------------------------------------------------------------------
// Verification

/** The header each provider authenticates its requests with, as users and logs name it. */
export const SIGNATURE_HEADERS: Readonly<Record<WebhookProvider, string>> = {
  github: 'X-Hub-Signature-256',
  gitlab: 'X-Gitlab-Token',
  bitbucket: 'X-Hub-Signature',
  gitea: 'X-Gitea-Signature',
  generic: 'X-Slipway-Signature',
};

/** Throws `Unauthenticated` unless `request` carries the provider's proof of `secret`. */
export function verifyWebhook(
  provider: WebhookProvider,
  request: WebhookRequest,
  secret: string | null,
): void {
  const headerName = SIGNATURE_HEADERS[provider];
  if (secret === null) {
    if (provider === 'bitbucket') return;
    throw new Error(`a ${provider} webhook trigger needs a secret`);
  }
  const given = header(request.headers, headerName);
  if (given === undefined) throw badSignature(`the ${headerName} header is missing`);
  const valid =
    provider === 'gitlab'
      ? sameSecret(given, secret)
      : provider === 'gitea'
        ? sameHex(given, hmacHex(secret, request.body))
        : given.startsWith('sha256=') &&
          sameHex(given.slice('sha256='.length), hmacHex(secret, request.body));
  if (!valid) throw badSignature(`the ${headerName} header does not match the body and the trigger's secret`);
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Constant-time comparison of a received hex digest with the expected one (case-insensitive, as hex is). */
function sameHex(given: string, expected: string): boolean {
  const a = Buffer.from(given.trim().toLowerCase(), 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time equality of two secrets of any length: their digests are compared, never the strings. */
function sameSecret(given: string, secret: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(secret));
}

function badSignature(message: string): Unauthenticated {
  return new Unauthenticated('WEBHOOK_SIGNATURE_INVALID', `webhook signature invalid: ${message}`);
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

// ---------------------------------------------------------------------------------------------------------
// Mapping

/** The event header each provider names its event in. */
export const EVENT_HEADERS: Readonly<Record<Exclude<WebhookProvider, 'generic'>, string>> = {
  github: 'X-GitHub-Event',
  gitlab: 'X-Gitlab-Event',
  bitbucket: 'X-Event-Key',
  gitea: 'X-Gitea-Event',
};

/** Maps a verified request; see the module comment for what it throws and ignores. */
export function mapWebhook(provider: WebhookProvider, request: WebhookRequest): WebhookOutcome {
  if (provider === 'generic') return mapGeneric(parseBody(request, false));
  const eventHeader = EVENT_HEADERS[provider];
  const event = header(request.headers, eventHeader);
  if (!event)
    throw new Invalid('WEBHOOK_PAYLOAD_INVALID', `the ${eventHeader} header is missing`, {
      field: eventHeader,
    });
  switch (provider) {
    case 'github':
      return mapGitHub(event, parseBody(request, true));
    case 'gitlab':
      return mapGitLab(event, parseBody(request, false));
    case 'bitbucket':
      return mapBitbucket(event, parseBody(request, false));
    case 'gitea':
      return mapGitea(event, parseBody(request, true));
  }
}

function mapGitHub(event: string, payload: Payload): WebhookOutcome {
  switch (event) {
    case 'ping':
      return { ignore: 'ping' };
    case 'push':
      return mapGitHubStylePush(payload);
    case 'pull_request':
      // GitHub says `synchronize` for new commits, Gitea `synchronized`.
      return mapGitHubStylePullRequest(payload, ['opened', 'synchronize', 'reopened']);
    default:
      return { ignore: `GitHub event "${event}" starts no run` };
  }
}

/**
 * Gitea sends a `push` for every pushed ref, tags included, and for tags also a `create`. Tags are taken from
 * the `push` (the event a Gitea hook subscribes to by default), so `create` is ignored: one tag, one run.
 */
function mapGitea(event: string, payload: Payload): WebhookOutcome {
  switch (event) {
    case 'push':
      return mapGitHubStylePush(payload);
    case 'create':
      return { ignore: 'Gitea create events are ignored: the push event of the same ref starts the run' };
    case 'pull_request':
      return mapGitHubStylePullRequest(payload, ['opened', 'synchronized', 'reopened']);
    default:
      return { ignore: `Gitea event "${event}" starts no run` };
  }
}

/** GitHub's pull_request payload, which Gitea copies; `runActions` are the actions that start a run. */
function mapGitHubStylePullRequest(payload: Payload, runActions: readonly string[]): WebhookOutcome {
  const action = text(payload, 'action');
  if (!runActions.includes(action)) return { ignore: `pull_request action "${action}" starts no run` };
  const number = integer(payload, 'pull_request.number');
  return one({
    event: 'pull_request',
    branch: text(payload, 'pull_request.base.ref'),
    commit: text(payload, 'pull_request.head.sha'),
    ref: `refs/pull/${number}/head`,
    repoUrl: text(payload, 'repository.clone_url'),
  });
}

/** GitHub's push payload, which Gitea copies: `ref`, `after`, `deleted`, `commits[]`, `head_commit`, `repository.clone_url`. */
function mapGitHubStylePush(payload: Payload): WebhookOutcome {
  const ref = text(payload, 'ref');
  const after = text(payload, 'after');
  // GitHub says `deleted: true`; Gitea announces a deletion with a zero `after` (and a `delete` event).
  if (optional(payload, 'deleted') === true || isZeroSha(after)) return { ignore: `${ref} was deleted` };
  const repoUrl = text(payload, 'repository.clone_url');
  // For an annotated tag `after` is the tag object; `head_commit` is the commit it points to.
  const headCommit = optional(payload, 'head_commit');
  const commit = headCommit === null || headCommit === undefined ? after : text(payload, 'head_commit.id');
  const named = refName(ref, 'ref');
  if (named.kind === 'tag') return one({ event: 'tag', tag: named.name, commit, ref, repoUrl });
  return one({
    event: 'push',
    branch: named.name,
    commit,
    ref,
    repoUrl,
    ...changedFiles(payload),
  });
}

function mapGitLab(event: string, payload: Payload): WebhookOutcome {
  switch (event) {
    case 'Push Hook':
    case 'Tag Push Hook': {
      const ref = text(payload, 'ref');
      const after = text(payload, 'after');
      if (isZeroSha(after)) return { ignore: `${ref} was deleted` };
      const repoUrl = text(payload, 'project.git_http_url');
      // `checkout_sha` is the commit (for an annotated tag, `after` is the tag object).
      const checkout = optional(payload, 'checkout_sha');
      const commit = typeof checkout === 'string' && checkout !== '' ? checkout : after;
      const named = refName(ref, 'ref');
      if (named.kind === 'tag') return one({ event: 'tag', tag: named.name, commit, ref, repoUrl });
      // GitLab lists at most 20 commits; beyond that the changed files are unknown.
      const total = optional(payload, 'total_commits_count');
      const listed = optional(payload, 'commits');
      const complete = typeof total !== 'number' || !Array.isArray(listed) || total <= listed.length;
      return one({
        event: 'push',
        branch: named.name,
        commit,
        ref,
        repoUrl,
        ...(complete ? changedFiles(payload) : {}),
      });
    }
    case 'Merge Request Hook': {
      const action = optional(payload, 'object_attributes.action');
      // `update` is also sent for edits of the title or labels; only one with new commits carries `oldrev`.
      const runs =
        action === 'open' ||
        action === 'reopen' ||
        (action === 'update' && typeof optional(payload, 'object_attributes.oldrev') === 'string');
      if (!runs)
        return {
          ignore: `merge request action "${typeof action === 'string' ? action : ''}" starts no run`,
        };
      const iid = integer(payload, 'object_attributes.iid');
      return one({
        event: 'pull_request',
        branch: text(payload, 'object_attributes.target_branch'),
        commit: text(payload, 'object_attributes.last_commit.id'),
        ref: `refs/merge-requests/${iid}/head`,
        repoUrl: text(payload, 'project.git_http_url'),
      });
    }
    default:
      return { ignore: `GitLab event "${event}" starts no run` };
  }
}

function mapBitbucket(event: string, payload: Payload): WebhookOutcome {
  switch (event) {
    case 'repo:push': {
      const repoUrl = bitbucketCloneUrl(payload, 'repository');
      const changes = list(payload, 'push.changes');
      const contexts: TriggerContext[] = [];
      changes.forEach((_, i) => {
        const at = `push.changes.${i}.new`;
        // A deleted branch or tag has no `new` state.
        if (optional(payload, at) === null || optional(payload, at) === undefined) return;
        const type = text(payload, `${at}.type`);
        const name = text(payload, `${at}.name`);
        const commit = text(payload, `${at}.target.hash`);
        if (type === 'branch')
          contexts.push({ event: 'push', branch: name, commit, ref: `refs/heads/${name}`, repoUrl });
        else if (type === 'tag' || type === 'annotated_tag')
          contexts.push({ event: 'tag', tag: name, commit, ref: `refs/tags/${name}`, repoUrl });
        else throw invalid(`${at}.type`, `is "${type}", expected "branch" or "tag"`);
      });
      const [first, ...rest] = contexts;
      return first ? { contexts: [first, ...rest] } : { ignore: 'the push only deleted branches or tags' };
    }
    case 'pullrequest:created':
    case 'pullrequest:updated': {
      // Bitbucket Cloud has no pull request refs: the run fetches the source branch of the source repository.
      const source = text(payload, 'pullrequest.source.branch.name');
      return one({
        event: 'pull_request',
        branch: text(payload, 'pullrequest.destination.branch.name'),
        commit: text(payload, 'pullrequest.source.commit.hash'),
        ref: `refs/heads/${source}`,
        repoUrl: bitbucketCloneUrl(payload, 'pullrequest.source.repository'),
      });
    }
    default:
      return { ignore: `Bitbucket event "${event}" starts no run` };
  }
}

/** Bitbucket payloads carry the repository's web page; its clone URL is that page plus `.git`. */
function bitbucketCloneUrl(payload: Payload, repository: string): string {
  return `${text(payload, `${repository}.links.html.href`).replace(/\/+$/, '')}.git`;
}

/** The generic hook: `{event, branch?, tag?, commit, repo_url?, changed_files?}`, signed like GitHub's. */
function mapGeneric(payload: Payload): WebhookOutcome {
  const event = text(payload, 'event');
  const commit = text(payload, 'commit');
  if (!/^[0-9a-f]{7,64}$/i.test(commit)) throw invalid('commit', 'is not a hexadecimal commit id');
  const repoUrl = optionalText(payload, 'repo_url') ?? '';
  const files = optional(payload, 'changed_files');
  let changed: { changedFiles?: string[] } = {};
  if (files !== undefined && files !== null) {
    if (!Array.isArray(files) || files.some((f) => typeof f !== 'string'))
      throw invalid('changed_files', 'is not a list of strings');
    changed = { changedFiles: [...new Set(files as string[])].sort() };
  }
  switch (event) {
    case 'push':
    case 'pull_request': {
      const branch = text(payload, 'branch');
      return one({ event, branch, commit, repoUrl, ...changed });
    }
    case 'tag':
      return one({ event: 'tag', tag: text(payload, 'tag'), commit, repoUrl, ...changed });
    default:
      throw invalid('event', `is "${event}", expected "push", "tag" or "pull_request"`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Payload reading (also what Quay build triggers read the rest of a payload with: runs/builds/trigger-payloads)

export type Payload = Record<string, unknown>;

/**
 * The JSON object of the body. GitHub and Gitea may also send `application/x-www-form-urlencoded` with the
 * JSON in the `payload` field (the signature still covers the raw, encoded body).
 */
export function parseBody(request: WebhookRequest, formAllowed: boolean): Payload {
  const contentType = header(request.headers, 'content-type') ?? '';
  let json = request.body.toString('utf8');
  if (formAllowed && /^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    const payload = new URLSearchParams(json).get('payload');
    if (payload === null) throw invalid('payload', 'is missing from the form body');
    json = payload;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Invalid('WEBHOOK_PAYLOAD_INVALID', `webhook body is not JSON: ${(error as Error).message}`, {
      field: 'body',
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid('body', 'is not a JSON object');
  return parsed as Payload;
}

/** The value at a dotted path (`pull_request.head.sha`, `push.changes.0.new`), or undefined. */
export function optional(payload: Payload, path: string): unknown {
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function text(payload: Payload, path: string): string {
  const value = optional(payload, path);
  if (typeof value !== 'string' || value === '') throw invalid(path, 'is missing or not a non-empty string');
  return value;
}

function optionalText(payload: Payload, path: string): string | undefined {
  const value = optional(payload, path);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(path, 'is not a string');
  return value === '' ? undefined : value;
}

function integer(payload: Payload, path: string): number {
  const value = optional(payload, path);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw invalid(path, 'is missing or not a non-negative integer');
  return value;
}

function list(payload: Payload, path: string): unknown[] {
  const value = optional(payload, path);
  if (!Array.isArray(value)) throw invalid(path, 'is missing or not a list');
  return value;
}

export function invalid(field: string, problem: string): Invalid {
  return new Invalid('WEBHOOK_PAYLOAD_INVALID', `webhook payload field "${field}" ${problem}`, { field });
}

function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}

/** `refs/heads/x` → branch x, `refs/tags/v1` → tag v1; any other ref is not something a run can start from. */
function refName(ref: string, field: string): { kind: 'branch' | 'tag'; name: string } {
  if (ref.startsWith('refs/heads/') && ref.length > 'refs/heads/'.length)
    return { kind: 'branch', name: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/') && ref.length > 'refs/tags/'.length)
    return { kind: 'tag', name: ref.slice('refs/tags/'.length) };
  throw invalid(field, `is "${ref}", expected refs/heads/... or refs/tags/...`);
}

/**
 * The union of the pushed commits' `added`, `modified` and `removed`, sorted; nothing when the payload lists
 * no commits (a new branch at an existing commit, a push the provider summarized): unknown, not empty.
 */
function changedFiles(payload: Payload): { changedFiles?: string[] } {
  const commits = optional(payload, 'commits');
  if (!Array.isArray(commits) || commits.length === 0) return {};
  const files = new Set<string>();
  commits.forEach((_, i) => {
    for (const kind of ['added', 'modified', 'removed']) {
      const path = `commits.${i}.${kind}`;
      const value = optional(payload, path);
      if (value === undefined || value === null) continue;
      if (!Array.isArray(value) || value.some((f) => typeof f !== 'string'))
        throw invalid(path, 'is not a list of strings');
      for (const file of value as string[]) files.add(file);
    }
  });
  return { changedFiles: [...files].sort() };
}

function one(context: TriggerContext): WebhookOutcome {
  return { contexts: [context] };
}
