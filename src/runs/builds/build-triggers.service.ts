import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import { Conflict, Denied, Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import { newId, randomToken } from '../../platform/ids.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import type { SecretBox } from '../../platform/secrets.js';
import { subjectOf, type IdentityService, type Policy } from '../../identity/index.js';
import type { RepositoriesService, Repository } from '../../registry/index.js';
import { verifyWebhook, type WebhookRequest } from '../triggers/webhooks.js';
import type { BuildTriggerRow, BuildTriggersStore } from './build-triggers.store.js';
import { lsRemote, parseCloneUrl, type CloneUrl, type RemoteRefs } from '../git/index.js';
import {
  assertRegex,
  BUILD_TRIGGER_SERVICES,
  determineTags,
  parseTriggerPayload,
  skipReason,
  type BuildTriggerService,
  type TriggerMetadata,
} from './trigger-payloads.js';
import type { BuildRequest, BuildView, ListBuildsOptions } from './types.js';

/** Quay's SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD: this many failed builds in a row disable a trigger. */
export const SUCCESSIVE_FAILURE_DISABLE_THRESHOLD = 100;
/** Quay's SUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD. */
export const SUCCESSIVE_INTERNAL_ERROR_DISABLE_THRESHOLD = 5;

export type DisabledReason =
  'successive_build_failures' | 'successive_build_internal_errors' | 'user_toggled';

/** The config keys Quay's trigger activation knows (endpoints/api/trigger.py, buildtrigger/*). */
export interface TriggerConfig {
  build_source?: string;
  dockerfile_path?: string;
  context?: string;
  branchtag_regex?: string;
  tag_templates?: string[];
  default_tag_from_ref?: boolean;
  latest_for_default_branch?: boolean;
  /** Shown once activated: the SSH public key (when one was made) and the webhook URL (token masked). */
  credentials?: { name: string; value: string }[];
  [other: string]: unknown;
}

export interface BuildTrigger {
  id: string;
  /** `namespace/name`. */
  repository: string;
  service: BuildTriggerService;
  /** Activated: it has a webhook token and a source. */
  active: boolean;
  enabled: boolean;
  disabledReason: DisabledReason | null;
  config: TriggerConfig;
  /** The git URL builds fetch from; null until a source is configured. */
  sourceUrl: string | null;
  /** A web page of the source, when the service has one (Quay's `repository_url`). */
  repositoryUrl: string | null;
  pullRobot: string | null;
  /** The user who set it up; its builds act for this user. */
  connectedUser: string;
  createdAt: number;
}

/** What the builds context does for triggers (RepositoryBuildsService). */
export interface TriggerBuilds {
  /** `repository` is `namespace/name`. */
  requestBuild(repository: string, request: BuildRequest): Promise<BuildView>;
  listBuilds(repository: string, options: ListBuildsOptions): Promise<BuildView[]>;
}

/** Makes an SSH key for a custom-git source (SourceCredentialsService), when that service is wired. */
export interface SshKeys {
  generateSshKey(namespace: string, name: string, actor?: string): Promise<{ publicKey: string }>;
  delete(namespace: string, name: string, actor?: string): Promise<void>;
}

/** The namespace's git credential holding a custom-git trigger's SSH key. */
export const triggerKeyName = (triggerId: string) => `build-trigger-${triggerId}`;

export interface BuildTriggersDependencies {
  store: BuildTriggersStore;
  events: EventBus;
  secrets: SecretBox;
  clock: Clock;
  policy: Policy;
  identity: Pick<IdentityService, 'findUserByName'>;
  repositories: Pick<RepositoriesService, 'find'>;
  builds: () => TriggerBuilds;
  outbound: OutboundPolicy;
  /** Lists a remote's refs; `lsRemote` (src/runs/git) through `outbound` unless a test gives another. */
  listRemote?: (url: string) => Promise<RemoteRefs>;
  sshKeys?: SshKeys;
}

/** What a webhook call did: a build started, or why none did. */
export type PushResult = { build: BuildView } | { skipped: string };

export interface StartInput {
  branch_name?: string;
  commit_sha?: string;
  refs?: { kind: 'branch' | 'tag'; name: string };
}

const HOSTED: Record<Exclude<BuildTriggerService, 'custom-git'>, string> = {
  github: 'https://github.com',
  gitlab: 'https://gitlab.com',
  bitbucket: 'https://bitbucket.org',
};
const OWNER_REPO = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/;
const FULL_COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const CONFIG_KEYS = new Set([
  'build_source',
  'dockerfile_path',
  'context',
  'branchtag_regex',
  'tag_templates',
  'default_tag_from_ref',
  'latest_for_default_branch',
  'webhook_secret',
  'master_branch',
]);

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Quay build triggers: a source binding of a repository whose pushes (webhook) or manual starts request a
 * repository build at a commit. Rows are created inactive (`create`, Quay's setup step), then `activate`d with
 * a config; activation mints the webhook's `$token` password, stored as a sha256 hash only and shown once.
 * Callers authorize the admin operations; the webhook is authorized here: its token (or GitHub signature)
 * proves the sender, and the policy must still let the trigger's user write the repository.
 */
export class BuildTriggersService {
  constructor(private readonly deps: BuildTriggersDependencies) {}

  /** Adds an inactive trigger of `service` to `repository`, set up by `user`. */
  async create(
    repository: Repository,
    service: string,
    user: string,
    options: { buildSource?: string } = {},
  ): Promise<BuildTrigger> {
    if (!(BUILD_TRIGGER_SERVICES as readonly string[]).includes(service))
      throw new Invalid('TRIGGER_INVALID', `unknown trigger service "${service}"`, { field: 'service' });
    const config: TriggerConfig = {};
    if (options.buildSource !== undefined) {
      sourceUrlOf(service as BuildTriggerService, options.buildSource, this.deps.outbound);
      config.build_source = options.buildSource;
    }
    const row: BuildTriggerRow = {
      id: newId(),
      repository_id: repository.id,
      repository: nameOf(repository),
      service,
      config: JSON.stringify(config),
      connected_user: user,
      pull_robot: null,
      token_hash: null,
      hook_secret_sealed: null,
      activated_at: null,
      enabled: 1,
      disabled_reason: null,
      successive_failures: 0,
      successive_internal_errors: 0,
      created_at: this.deps.clock.now(),
    };
    await this.deps.store.insert(row);
    return this.view(row);
  }

  async list(repository: Repository): Promise<BuildTrigger[]> {
    return (await this.deps.store.listOfRepository(repository.id)).map((row) => this.view(row));
  }

  async get(repository: Repository, id: string): Promise<BuildTrigger> {
    return this.view(await this.row(repository, id));
  }

  /** The trigger of a build, for the build view; undefined when it was deleted since. */
  async find(id: string): Promise<BuildTrigger | undefined> {
    const row = await this.deps.store.find(id);
    return row ? this.view(row) : undefined;
  }

  async delete(repository: Repository, id: string): Promise<void> {
    const row = await this.row(repository, id);
    await this.deps.store.delete(id);
    this.announce('build_trigger.deleted', row);
    if (this.hasSshKey(row))
      await this.deps.sshKeys!.delete(repository.namespace, triggerKeyName(id)).catch((error: unknown) => {
        if (!(error instanceof NotFound)) throw error;
      });
  }

  /** Quay's PUT `{enabled}`: only an active trigger; enabling clears the counters and the reason. */
  async setEnabled(repository: Repository, id: string, enabled: boolean): Promise<BuildTrigger> {
    const row = await this.row(repository, id);
    if (row.token_hash === null) throw new Invalid('TRIGGER_NOT_ACTIVE', 'Trigger is not active.');
    const changes = enabled
      ? { enabled: 1, disabled_reason: null, successive_failures: 0, successive_internal_errors: 0 }
      : { enabled: 0, disabled_reason: 'user_toggled' };
    await this.deps.store.update(id, changes);
    this.announce('build_trigger.toggled', row, { enabled });
    return this.view({ ...row, ...changes });
  }

  /**
   * Activates an inactive trigger with `config` (Quay's keys; `webhook_secret` is GitHub's hook secret, sealed
   * and never shown). `webhookBase` is `<scheme>://<host>` of this server. Returns the trigger whose
   * `config.credentials` holds the webhook URL with its token: the only time the token is shown.
   */
  async activate(
    repository: Repository,
    id: string,
    input: { config: Record<string, unknown>; pullRobot?: string; webhookBase: string },
  ): Promise<BuildTrigger> {
    const row = await this.row(repository, id);
    if (row.token_hash !== null) throw new Conflict('TRIGGER_ACTIVE', 'Trigger is already activated.');
    const service = row.service as BuildTriggerService;
    const { config, hookSecret } = validateConfig(service, {
      ...(JSON.parse(row.config) as TriggerConfig),
      ...input.config,
    });
    sourceUrlOf(service, config.build_source!, this.deps.outbound);
    const token = randomToken(32);
    const base = new URL(input.webhookBase);
    const hookPath = `/webhooks/push/trigger/${row.id}`;
    const url = (password: string) => `${base.protocol}//$token:${password}@${base.host}${hookPath}`;
    const credentials: { name: string; value: string }[] = [];
    if (service === 'custom-git' && this.deps.sshKeys) {
      const key = await this.deps.sshKeys.generateSshKey(
        repository.namespace,
        triggerKeyName(row.id),
        row.connected_user,
      );
      credentials.push({ name: 'SSH Public Key', value: key.publicKey });
    }
    const stored = {
      ...config,
      credentials: [...credentials, { name: 'Webhook Endpoint URL', value: url('********') }],
    };
    const changes = {
      config: JSON.stringify(stored),
      pull_robot: input.pullRobot ?? null,
      token_hash: sha256(token).toString('hex'),
      hook_secret_sealed: hookSecret === undefined ? null : this.deps.secrets.seal(hookSecret),
      activated_at: this.deps.clock.now(),
    };
    if (!(await this.deps.store.activate(row.id, changes)))
      throw new Conflict('TRIGGER_ACTIVE', 'Trigger is already activated.');
    this.announce('build_trigger.activated', row);
    const view = this.view({ ...row, ...changes });
    view.config = {
      ...stored,
      credentials: [...credentials, { name: 'Webhook Endpoint URL', value: url(token) }],
    };
    return view;
  }

  /**
   * Quay's manual start: a branch, a tag or a commit. A branch or tag is resolved to its commit with
   * `git ls-remote`; custom-git needs `commit_sha`. Throws `Invalid` "Trigger is not active." / "Trigger is not
   * enabled." for a trigger that may not build.
   */
  async start(repository: Repository, id: string, input: StartInput, user: string): Promise<BuildView> {
    const row = await this.row(repository, id);
    const trigger = this.view(row);
    this.assertCanBuild(row);
    const sourceUrl = trigger.sourceUrl!;
    let ref: string | undefined;
    if (input.refs) ref = `refs/${input.refs.kind === 'tag' ? 'tags' : 'heads'}/${input.refs.name}`;
    else if (input.branch_name) ref = `refs/heads/${input.branch_name}`;
    if (trigger.service === 'custom-git' && !input.commit_sha)
      throw new Invalid('TRIGGER_START_INVALID', 'Missing required field: commit_sha', {
        field: 'commit_sha',
      });
    let commit = input.commit_sha?.toLowerCase();
    let remote: RemoteRefs | undefined;
    if (commit === undefined || !FULL_COMMIT.test(commit)) {
      remote = await this.listRemote(sourceUrl);
      ref ??= remote.defaultBranch ? `refs/heads/${remote.defaultBranch}` : undefined;
      commit = resolveCommit(remote, commit, ref);
    }
    const metadata: TriggerMetadata = { commit, git_url: sourceUrl, ...(ref ? { ref } : {}) };
    const defaultBranch = remote?.defaultBranch ?? (trigger.config.master_branch as string | undefined);
    if (defaultBranch) metadata.default_branch = defaultBranch;
    return this.requestBuild(repository, row, metadata, user);
  }

  /**
   * A push sent to `POST /webhooks/push/trigger/{id}`. `token` is the Basic `$token` password, if any. Throws
   * `NotFound` for an unknown trigger (or one of another `repository` when the path names one), `Denied` when
   * neither the token nor a GitHub signature proves the sender (or the trigger's user may no longer write the
   * repository), `Unauthenticated` for a bad signature, `Invalid` for an unreadable payload.
   */
  async receivePush(
    id: string,
    request: WebhookRequest & { token?: string; repository?: string },
  ): Promise<PushResult> {
    const row = await this.deps.store.find(id);
    if (!row || (request.repository !== undefined && request.repository !== row.repository))
      throw new NotFound('TRIGGER_NOT_FOUND', 'Not Found');
    this.authenticatePush(row, request);
    const repository = await this.deps.repositories.find(row.repository);
    if (!repository || repository.id !== row.repository_id)
      throw new NotFound('TRIGGER_NOT_FOUND', 'Not Found');
    const trigger = this.view(row);
    if (!trigger.active) throw new Invalid('TRIGGER_NOT_ACTIVE', 'Trigger is not active.');
    // Quay refuses pushes to a disabled trigger, so the sender's delivery log shows why nothing builds.
    if (!trigger.enabled)
      throw new Invalid(
        'TRIGGER_NOT_ENABLED',
        'This build trigger is currently disabled. Please re-enable it before attempting to start a build.',
      );
    const parsed = parseTriggerPayload(trigger.service, request, trigger.sourceUrl!);
    if ('skip' in parsed) return { skipped: parsed.skip };
    const skip = skipReason(parsed.metadata, trigger.config.branchtag_regex);
    if (skip) return { skipped: skip };
    const metadata = parsed.metadata;
    if (!FULL_COMMIT.test(metadata.commit))
      metadata.commit = resolveCommit(
        await this.listRemote(trigger.sourceUrl!),
        metadata.commit,
        metadata.ref,
      );
    return { build: await this.requestBuild(repository, row, metadata, undefined) };
  }

  async listBuilds(repository: Repository, id: string, limit: number): Promise<BuildView[]> {
    await this.row(repository, id);
    return this.deps.builds().listBuilds(nameOf(repository), { triggerId: id, limit });
  }

  /**
   * Counts a trigger build's end: a success clears the counters, failures and internal errors in a row
   * disable the trigger at their thresholds. Unknown triggers (deleted since) are ignored.
   */
  async recordBuildOutcome(id: string, outcome: 'success' | 'failure' | 'internal_error'): Promise<void> {
    if (outcome === 'success') return this.deps.store.resetCounters(id);
    if (outcome === 'failure')
      await this.deps.store.countAndMaybeDisable(
        id,
        'successive_failures',
        SUCCESSIVE_FAILURE_DISABLE_THRESHOLD,
        'successive_build_failures',
      );
    else
      await this.deps.store.countAndMaybeDisable(
        id,
        'successive_internal_errors',
        SUCCESSIVE_INTERNAL_ERROR_DISABLE_THRESHOLD,
        'successive_build_internal_errors',
      );
  }

  /** Counts the ends of trigger builds announced on the bus. */
  listen(events: EventBus): void {
    const record = (id: string | undefined, outcome: 'success' | 'failure') => {
      if (id) this.recordBuildOutcome(id, outcome).catch(() => undefined); // a lost count only delays disabling
    };
    events.on('build.succeeded', (event) => record(event.build.triggerId, 'success'));
    events.on('build.failed', (event) => record(event.build.triggerId, 'failure'));
  }

  // -------------------------------------------------------------------------------------------------------

  private async row(repository: Repository, id: string): Promise<BuildTriggerRow> {
    const row = await this.deps.store.find(id);
    if (!row || row.repository_id !== repository.id) throw new NotFound('TRIGGER_NOT_FOUND', 'Not Found');
    return row;
  }

  private announce(
    type: 'build_trigger.activated' | 'build_trigger.deleted' | 'build_trigger.toggled',
    row: BuildTriggerRow,
    extra: { enabled?: boolean } = {},
  ): void {
    this.deps.events.emit({
      type,
      repository: row.repository,
      triggerId: row.id,
      service: row.service,
      ...extra,
    });
  }

  private assertCanBuild(row: BuildTriggerRow): void {
    if (row.token_hash === null) throw new Invalid('TRIGGER_NOT_ACTIVE', 'Trigger is not active.');
    if (row.enabled !== 1) throw new Invalid('TRIGGER_NOT_ENABLED', 'Trigger is not enabled.');
  }

  /** The `$token` password, or a valid GitHub signature when a hook secret is set. */
  private authenticatePush(row: BuildTriggerRow, request: WebhookRequest & { token?: string }): void {
    const signature = request.headers['x-hub-signature-256'];
    if (row.hook_secret_sealed !== null && signature !== undefined) {
      verifyWebhook('github', request, this.deps.secrets.open(row.hook_secret_sealed));
      return;
    }
    const expected = row.token_hash === null ? undefined : Buffer.from(row.token_hash, 'hex');
    if (request.token === undefined || !expected || !timingSafeEqual(sha256(request.token), expected))
      throw new Denied('TRIGGER_TOKEN_INVALID', 'Invalid or missing trigger token');
  }

  private async requestBuild(
    repository: Repository,
    row: BuildTriggerRow,
    metadata: TriggerMetadata,
    manualUser: string | undefined,
  ): Promise<BuildView> {
    this.assertCanBuild(row);
    // The trigger acts for the user who set it up: it builds only while that user may still push.
    const user = await this.deps.identity.findUserByName(row.connected_user);
    const role = user
      ? await this.deps.policy.repositoryRole(subjectOf(user), {
          namespace: repository.namespace,
          id: repository.id,
          visibility: repository.visibility,
          state: repository.state,
        })
      : undefined;
    if (role !== 'write' && role !== 'admin')
      throw new Denied(
        'TRIGGER_USER_DENIED',
        'The user of this trigger may no longer write to the repository',
      );
    if (repository.state !== 'NORMAL')
      throw new Invalid(
        'REPOSITORY_NOT_NORMAL',
        `Repository is in read only or mirror mode: ${repository.state}`,
      );
    const trigger = this.view(row);
    const config = trigger.config;
    const tags = determineTags(metadata, {
      tagTemplates: config.tag_templates ?? [],
      defaultTagFromRef: config.default_tag_from_ref ?? true,
      latestForDefaultBranch: config.latest_for_default_branch ?? true,
    });
    return this.deps.builds().requestBuild(nameOf(repository), {
      source: {
        kind: 'git',
        url: trigger.sourceUrl!,
        commit: metadata.commit,
        ...(metadata.ref ? { ref: metadata.ref } : {}),
        ...(this.hasSshKey(row) && isSsh(trigger.sourceUrl!) ? { credentials: triggerKeyName(row.id) } : {}),
      },
      dockerfilePath: config.dockerfile_path ?? '/Dockerfile',
      ...(config.context !== undefined ? { context: config.context } : {}),
      tags,
      ...(row.pull_robot ? { pullRobot: row.pull_robot } : {}),
      manualUser: manualUser ?? row.connected_user,
      trigger: { id: row.id, service: row.service, metadata: { ...metadata } },
    });
  }

  /** Whether activation made an SSH key for the trigger (custom-git, with the key service wired). */
  private hasSshKey(row: BuildTriggerRow): boolean {
    if (row.service !== 'custom-git' || !this.deps.sshKeys) return false;
    const credentials = (JSON.parse(row.config) as TriggerConfig).credentials ?? [];
    return credentials.some((c) => c.name === 'SSH Public Key');
  }

  private async listRemote(url: string): Promise<RemoteRefs> {
    if (this.deps.listRemote) return this.deps.listRemote(url);
    try {
      return await lsRemote(url, { outbound: this.deps.outbound });
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      throw new Invalid('SOURCE_UNREACHABLE', `the source repository could not be read: ${error.message}`);
    }
  }

  private view(row: BuildTriggerRow): BuildTrigger {
    const service = row.service as BuildTriggerService;
    const config = JSON.parse(row.config) as TriggerConfig;
    const source = config.build_source;
    const sourceUrl = source ? sourceUrlOf(service, source, undefined) : null;
    return {
      id: row.id,
      repository: row.repository,
      service,
      active: row.token_hash !== null,
      enabled: row.enabled === 1,
      disabledReason: row.disabled_reason as DisabledReason | null,
      config,
      sourceUrl,
      repositoryUrl: source ? repositoryUrlOf(service, source) : null,
      pullRobot: row.pull_robot,
      connectedUser: row.connected_user,
      createdAt: row.created_at,
    };
  }
}

/**
 * The git URL of a source: `owner/repo` on the service's public host, or a git URL as given (a self-hosted
 * GitLab, GitHub Enterprise, any server for custom-git). Local paths and `file://` are refused: a trigger must
 * not read the server's own disk. With `outbound`, literal addresses are checked now.
 */
function sourceUrlOf(
  service: BuildTriggerService,
  source: string,
  outbound: OutboundPolicy | undefined,
): string {
  const url =
    service !== 'custom-git' && OWNER_REPO.test(source) ? `${HOSTED[service]}/${source}.git` : source;
  const remote = remoteOf(url);
  if (!remote)
    throw new Invalid(
      'TRIGGER_CONFIG_INVALID',
      service === 'custom-git'
        ? 'build_source: must be an http(s), ssh or git URL, or user@host:path'
        : 'build_source: must be "owner/repository" or a git URL',
      { field: 'build_source' },
    );
  if (outbound && remote.transport === 'http') outbound.validateUrl(url, 'build_source');
  return url;
}

/** `Repository.name` is the full `namespace/name`. */
const nameOf = (repository: Repository) => repository.name;

function isSsh(url: string): boolean {
  return remoteOf(url)?.transport === 'ssh';
}

/** A git URL of another machine; undefined for local paths, `file://` and what git cannot fetch from. */
function remoteOf(url: string): CloneUrl | undefined {
  if (url.startsWith('-')) return undefined;
  try {
    const parsed = parseCloneUrl(url);
    return parsed.transport === 'local' ? undefined : parsed;
  } catch {
    return undefined;
  }
}

function repositoryUrlOf(service: BuildTriggerService, source: string): string | null {
  if (service !== 'custom-git' && OWNER_REPO.test(source)) return `${HOSTED[service]}/${source}`;
  return /^https?:\/\//.test(source) ? source.replace(/\.git$/, '') : null;
}

/** Checks Quay's config keys; returns the config to store and GitHub's hook secret apart from it. */
function validateConfig(
  service: BuildTriggerService,
  input: Record<string, unknown>,
): { config: TriggerConfig; hookSecret?: string } {
  const fail = (field: string, problem: string) =>
    new Invalid('TRIGGER_CONFIG_INVALID', `${field}: ${problem}`, { field });
  for (const key of Object.keys(input))
    if (!CONFIG_KEYS.has(key) && key !== 'credentials') throw fail(key, 'is not a trigger config key');
  const text = (key: string): string | undefined => {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw fail(key, 'must be a string');
    return value;
  };
  const flag = (key: string): boolean | undefined => {
    const value = input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw fail(key, 'must be a boolean');
    return value;
  };
  const config: TriggerConfig = {};
  const buildSource = text('build_source');
  if (!buildSource) throw fail('build_source', 'is required');
  config.build_source = buildSource;
  const dockerfile = text('dockerfile_path');
  if (dockerfile !== undefined) {
    if (dockerfile.split('/').includes('..')) throw fail('dockerfile_path', 'may not leave the source');
    config.dockerfile_path = dockerfile.startsWith('/') ? dockerfile : `/${dockerfile}`;
  }
  const context = text('context');
  if (context !== undefined) {
    if (context.split('/').includes('..')) throw fail('context', 'may not leave the source');
    config.context = context.startsWith('/') ? context : `/${context}`;
  }
  const regex = text('branchtag_regex');
  if (regex) {
    assertRegex(regex, 'branchtag_regex');
    config.branchtag_regex = regex;
  }
  const templates = input.tag_templates;
  if (templates !== undefined && templates !== null) {
    if (!Array.isArray(templates) || templates.some((t) => typeof t !== 'string' || t === ''))
      throw fail('tag_templates', 'must be a list of non-empty strings');
    config.tag_templates = templates as string[];
  }
  for (const key of ['default_tag_from_ref', 'latest_for_default_branch'] as const) {
    const value = flag(key);
    if (value !== undefined) config[key] = value;
  }
  const master = text('master_branch');
  if (master) config.master_branch = master;
  const secret = text('webhook_secret');
  if (secret !== undefined && service !== 'github' && service !== 'custom-git')
    throw fail('webhook_secret', 'is only for GitHub-signed webhooks');
  if (secret === '') throw fail('webhook_secret', 'is empty');
  return { config, ...(secret ? { hookSecret: secret } : {}) };
}

/** The full commit of `commit` (a prefix) or of `ref`, from what the remote advertises. */
function resolveCommit(remote: RemoteRefs, commit: string | undefined, ref: string | undefined): string {
  if (commit === undefined) {
    const sha = ref ? remote.refs.get(ref) : undefined;
    if (!sha) throw new Invalid('TRIGGER_START_INVALID', `the source has no ${ref ?? 'default branch'}`);
    return sha;
  }
  const atRef = ref ? remote.refs.get(ref) : undefined;
  if (atRef?.startsWith(commit)) return atRef;
  const matches = new Set([...remote.refs.values()].filter((sha) => sha.startsWith(commit)));
  if (matches.size === 1) return [...matches][0]!;
  throw new Invalid(
    'TRIGGER_START_INVALID',
    `commit ${commit} is not the tip of a ref of the source; give the full commit id`,
    { field: 'commit_sha' },
  );
}
