import type { Clock } from '../../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import { newId } from '../../platform/ids.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { IdentityService, RobotsService, Subject } from '../../identity/index.js';
import type { ManifestsService } from '../manifests.service.js';
import type { RepositoriesService, Repository } from '../repositories.service.js';
import type { ImageCopier } from './image-copier.js';
import type { MirrorRow, MirrorStore, SyncStatus } from './mirror.store.js';
import { assertRegistryAllowed, parseRegistryReference, type AddressPolicy } from './registry-reference.js';
import { matchingTags } from './tag-glob.js';
import { UpstreamRegistry } from './upstream.client.js';

/** `external_registry_config` as Quay keeps it. */
export interface RegistryConfig {
  verify_tls?: boolean;
  unsigned_images?: boolean;
  proxy?: { https_proxy?: string | null; http_proxy?: string | null; no_proxy?: string | null };
}

/** A repository's mirror configuration and sync state. */
export interface RepositoryMirror {
  repository: string;
  isEnabled: boolean;
  externalReference: string;
  username: string | null;
  registryConfig: RegistryConfig;
  syncInterval: number;
  syncStartDate: number | null;
  syncExpirationDate: number | null;
  syncRetriesRemaining: number;
  syncStatus: SyncStatus;
  tagGlobs: string[];
  robotUsername: string | null;
  skopeoTimeout: number;
  architectureFilter: string[];
  lastError: string | null;
}

/** The fields of a create (all required but the optional ones) or a partial update. */
export interface MirrorInput {
  isEnabled?: boolean;
  externalReference?: string;
  username?: string | null;
  password?: string | null;
  registryConfig?: RegistryConfig;
  syncInterval?: number;
  /** `YYYY-MM-DDTHH:MM:SSZ` */
  syncStartDate?: string;
  tagGlobs?: string[];
  robotUsername?: string;
  skopeoTimeout?: number;
  architectureFilter?: string[] | null;
}

export type NewMirror = MirrorInput &
  Required<
    Pick<
      MirrorInput,
      'externalReference' | 'syncInterval' | 'syncStartDate' | 'tagGlobs' | 'robotUsername' | 'skopeoTimeout'
    >
  >;

export interface MirrorSettings {
  policy: AddressPolicy;
  maxManifestBytes: number;
}

/** Changes a repository's state (the repository administration use case, which announces it). */
export interface RepositoryStates {
  setState(repository: Repository, state: 'MIRROR', subject: Subject): Promise<void>;
}

/** Quay's MAX_SYNC_RETRIES: failed syncs are retried at once this many times, then wait for the next interval. */
const maxSyncRetries = 3;
const validArchitectures = new Set(['amd64', 'arm64', 'ppc64le', 's390x']);
const datePattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const dueBatch = 20;
/** The abort reason of syncs stopped by a shutdown: they are handed back, not cancelled. */
const shuttingDown = new Error('shutting down');

/** `2024-05-10T15:11:00Z` → epoch ms, or undefined when it is not that format or not a date. */
function parseSyncDate(value: string): number | undefined {
  const m = datePattern.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60
    ? ms
    : undefined;
}

/** epoch ms → `2024-05-10T15:11:00Z`, the format of the mirror API's dates. */
export const formatSyncDate = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The settings an update sets, named and valued as Quay's usage log shows them
 * (endpoints/api/mirror.py: one `repo_mirror_config_changed` entry per setting, the password masked).
 */
function changedSettings(input: MirrorInput): Array<[string, unknown]> {
  const settings: Array<[string, unknown]> = [];
  if (input.isEnabled !== undefined) settings.push(['is_enabled', input.isEnabled]);
  if (input.externalReference !== undefined) settings.push(['external_reference', input.externalReference]);
  if (input.robotUsername !== undefined) settings.push(['robot_username', input.robotUsername]);
  if (input.syncStartDate !== undefined) settings.push(['sync_start_date', input.syncStartDate]);
  if (input.syncInterval !== undefined) settings.push(['sync_interval', input.syncInterval]);
  if (input.username !== undefined) {
    settings.push(['external_registry_username', input.username]);
    if (input.password !== undefined)
      settings.push(['external_registry_password', input.password === null ? null : '********']);
  }
  const config = input.registryConfig;
  if (config?.verify_tls !== undefined) settings.push(['verify_tls', config.verify_tls]);
  if (config?.unsigned_images !== undefined) settings.push(['unsigned_images', config.unsigned_images]);
  for (const key of ['http_proxy', 'https_proxy', 'no_proxy'] as const)
    if (config?.proxy?.[key] !== undefined) settings.push([key, config.proxy[key]]);
  if (input.tagGlobs !== undefined) settings.push(['mirror_rule', input.tagGlobs]);
  return settings;
}

const invalid = (message: string, field: string) => new Invalid('INVALID_MIRROR_CONFIG', message, { field });

/**
 * Repository mirroring (Quay's repo mirror): a repository in MIRROR state follows the tags of
 * an upstream repository that match its globs. Syncs run on a schedule (`sync_start_date`, then
 * every `sync_interval` seconds) or on request, in a worker started by `slipway serve`; every
 * status change is a compare-and-set on the row's transaction id, so replicas never run the same
 * sync twice and a cancelled sync cannot overwrite its CANCEL.
 *
 * A sync copies each matching tag whose upstream digest differs from the local one (manifests,
 * index children and missing blobs, through the registry services in the name of the mirror
 * robot), then removes local tags that no longer match an upstream tag, as Quay does.
 */
export class MirrorService {
  private readonly running = new Map<string, AbortController>();
  private worker?: { timer: NodeJS.Timeout; busy: boolean; onError: (err: unknown) => void };

  constructor(
    private readonly store: MirrorStore,
    private readonly repositories: RepositoriesService,
    private readonly states: RepositoryStates,
    private readonly manifests: ManifestsService,
    private readonly identity: IdentityService,
    private readonly robots: RobotsService,
    private readonly copier: ImageCopier,
    private readonly secrets: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly settings: MirrorSettings,
  ) {}

  async get(repository: Repository): Promise<RepositoryMirror> {
    return this.toMirror(repository.name, await this.row(repository));
  }

  /** The robot that mirrors into a repository: the only one that may push to it while it is in MIRROR state. */
  async mirrorRobot(repositoryId: string): Promise<string | undefined> {
    return this.store.robotOf(repositoryId);
  }

  /** Creates the configuration and puts the repository in MIRROR state. */
  async create(repository: Repository, input: NewMirror, subject: Subject): Promise<void> {
    if (await this.store.find(repository.id)) {
      throw new Conflict(
        'MIRROR_EXISTS',
        `Mirror configuration already exits for repository ${repository.name}`,
      );
    }
    const checked = await this.validate(repository, input);
    if (input.password != null && input.username == null)
      throw invalid(
        'Unable to set a new password without also specifying a username.',
        'external_registry_password',
      );
    const now = this.clock.now();
    const inserted = await this.store.insert({
      repository_id: repository.id,
      is_enabled: input.isEnabled === false ? 0 : 1,
      external_reference: input.externalReference,
      username_sealed: input.username != null ? this.secrets.seal(input.username) : null,
      password_sealed: input.password != null ? this.secrets.seal(input.password) : null,
      registry_config: JSON.stringify(mergeRegistryConfig({}, input.registryConfig)),
      root_rule: JSON.stringify(input.tagGlobs),
      robot_id: checked.robotId ?? null,
      sync_interval: input.syncInterval,
      sync_start_date: checked.syncStartDate ?? now,
      sync_expiration_date: null,
      sync_retries_remaining: maxSyncRetries,
      sync_status: 'NEVER_RUN',
      sync_transaction_id: newId(),
      skopeo_timeout: input.skopeoTimeout,
      architecture_filter: JSON.stringify(input.architectureFilter ?? []),
      last_error: null,
      created_at: now,
    });
    if (!inserted)
      throw new Conflict('MIRROR_EXISTS', 'RepoMirrorConfig already exists for this repository.');
    if (checked.robotId) await this.grantWrite(repository, checked.robotId);
    if (repository.state !== 'MIRROR') await this.states.setState(repository, 'MIRROR', subject);
    this.changed(repository, 'external_reference', input.externalReference);
  }

  /** A partial update; everything is validated before anything changes. */
  async update(repository: Repository, input: MirrorInput): Promise<void> {
    const row = await this.row(repository);
    if (input.externalReference === '')
      throw invalid('Empty string is an invalid repository location.', 'external_reference');
    const checked = await this.validate(repository, input);
    if (input.password !== undefined && input.username === undefined)
      throw invalid(
        'Unable to set a new password without also specifying a username.',
        'external_registry_password',
      );
    if (input.username === null && input.password != null)
      throw invalid('Unable to delete username while setting a password.', 'external_registry_username');

    const changes: Partial<MirrorRow> = {};
    if (input.isEnabled !== undefined) changes.is_enabled = input.isEnabled ? 1 : 0;
    if (input.externalReference !== undefined) changes.external_reference = input.externalReference;
    if (input.username !== undefined) {
      changes.username_sealed = input.username === null ? null : this.secrets.seal(input.username);
      if (input.password !== undefined)
        changes.password_sealed = input.password === null ? null : this.secrets.seal(input.password);
    }
    if (input.registryConfig !== undefined)
      changes.registry_config = JSON.stringify(
        mergeRegistryConfig(JSON.parse(row.registry_config) as RegistryConfig, input.registryConfig),
      );
    if (input.tagGlobs !== undefined) changes.root_rule = JSON.stringify(input.tagGlobs);
    if (checked.robotId !== undefined) changes.robot_id = checked.robotId;
    if (input.syncInterval !== undefined) changes.sync_interval = input.syncInterval;
    if (checked.syncStartDate !== undefined) changes.sync_start_date = checked.syncStartDate;
    if (input.skopeoTimeout !== undefined) changes.skopeo_timeout = input.skopeoTimeout;
    if (input.architectureFilter !== undefined)
      changes.architecture_filter = JSON.stringify(input.architectureFilter ?? []);
    if (Object.keys(changes).length > 0) await this.store.update(repository.id, changes);
    if (checked.robotId) await this.grantWrite(repository, checked.robotId);
    for (const [setting, value] of changedSettings(input)) this.changed(repository, setting, value);
  }

  /** Asks for a sync as soon as a worker is free (SYNC_NOW); not while one runs. */
  async requestSync(repository: Repository): Promise<void> {
    const row = await this.row(repository);
    if (row.sync_status === 'SYNCING') throw new NotFound('MIRROR_SYNCING', 'Not Found');
    const changed = await this.store.updateIf(repository.id, row.sync_transaction_id, {
      sync_status: 'SYNC_NOW',
      sync_expiration_date: null,
      sync_retries_remaining: Math.max(row.sync_retries_remaining, 1),
      sync_transaction_id: newId(),
    });
    if (!changed) throw new NotFound('MIRROR_BUSY', 'Not Found');
    this.changed(repository, 'sync_status', 'SYNC_NOW');
    this.kick();
  }

  /** Cancels a running or requested sync; a running one stops after the blob it is copying. */
  async cancel(repository: Repository): Promise<void> {
    const row = await this.row(repository);
    if (row.sync_status !== 'SYNCING' && row.sync_status !== 'SYNC_NOW')
      throw new NotFound('MIRROR_NOT_SYNCING', 'Not Found');
    await this.store.update(repository.id, {
      sync_status: 'CANCEL',
      sync_expiration_date: null,
      sync_retries_remaining: 0,
      sync_transaction_id: newId(),
    });
    this.changed(repository, 'sync_status', 'SYNC_CANCEL');
    this.running.get(repository.id)?.abort(new Error('sync cancelled'));
  }

  /** Whether a robot mirrors into any repository (such a robot may not be deleted). */
  async usesRobot(robotId: string): Promise<boolean> {
    return this.store.usesRobot(robotId);
  }

  /** Runs every sync that is due now, one after another; returns how many ran. */
  async syncDue(): Promise<number> {
    let ran = 0;
    for (const row of await this.store.due(this.clock.now(), dueBatch)) {
      if (await this.run(row.repository, row)) ran++;
    }
    return ran;
  }

  /** Requests a sync of one repository and runs it at once; returns the status it ended with. */
  async syncNow(repositoryName: string): Promise<SyncStatus> {
    const repository = await this.repositories.get(repositoryName);
    await this.requestSync(repository);
    await this.run(repositoryName, await this.row(repository));
    return (await this.row(repository)).sync_status;
  }

  /** Polls for due syncs every `intervalMs` (and at once after a sync-now request); returns the stop function. */
  startWorker(opts: { intervalMs?: number; onError: (err: unknown) => void }): () => void {
    const timer = setInterval(() => this.kick(), opts.intervalMs ?? 30_000);
    timer.unref();
    this.worker = { timer, busy: false, onError: opts.onError };
    this.kick();
    return () => {
      clearInterval(timer);
      this.worker = undefined;
      for (const controller of this.running.values()) controller.abort(shuttingDown);
    };
  }

  private kick(): void {
    const worker = this.worker;
    if (!worker || worker.busy) return;
    worker.busy = true;
    setImmediate(() => {
      this.syncDue()
        .catch(worker.onError)
        .finally(() => (worker.busy = false));
    });
  }

  private changed(repository: Repository, setting: string, to: unknown): void {
    this.events.emit({ type: 'mirror.config_changed', repository: repository.name, changed: setting, to });
  }

  private async row(repository: Repository): Promise<MirrorRow> {
    const row = await this.store.find(repository.id);
    if (!row) throw new NotFound('MIRROR_NOT_FOUND', 'Not Found');
    return row;
  }

  private async validate(
    repository: Repository,
    input: MirrorInput,
  ): Promise<{ robotId?: string; syncStartDate?: number }> {
    if (input.externalReference !== undefined) {
      const ref = parseRegistryReference(input.externalReference, 'external_reference', true);
      assertRegistryAllowed(ref, this.settings.policy, 'external_reference');
    }
    if (input.architectureFilter && input.architectureFilter.length > 0) {
      const unknown = input.architectureFilter.filter((a) => !validArchitectures.has(a)).sort();
      if (unknown.length > 0)
        throw invalid(`Invalid architectures: ${unknown.join(', ')}`, 'architecture_filter');
      // Slipway stores whole indexes only (no sparse manifests), like Quay without FEATURE_SPARSE_INDEX.
      throw invalid(
        'Architecture filtering requires FEATURE_SPARSE_INDEX to be enabled.',
        'architecture_filter',
      );
    }
    if (input.tagGlobs !== undefined && input.tagGlobs.length === 0)
      throw invalid(
        'validation failed: rule_value for TAG_GLOB_CSV must be a list with at least one rule',
        'root_rule',
      );
    let syncStartDate: number | undefined;
    if (input.syncStartDate !== undefined) {
      syncStartDate = parseSyncDate(input.syncStartDate);
      if (syncStartDate === undefined)
        throw invalid('Incorrect DateTime format for sync_start_date.', 'sync_start_date');
    }
    let robotId: string | undefined;
    if (input.robotUsername !== undefined) {
      const robot = await this.robots.find(input.robotUsername);
      if (!robot) throw invalid('Could not find robot with specified username', 'robot_username');
      if (robot.namespace !== repository.namespace) throw invalid('Invalid robot', 'robot_username');
      robotId = robot.id;
    }
    return { robotId, syncStartDate };
  }

  /** The mirror robot needs write on the repository (Quay grants it when none or only read is there). */
  private async grantWrite(repository: Repository, robotId: string): Promise<void> {
    const grants = await this.identity.listGrants(repository.id);
    const current = grants.find((g) => g.kind === 'robot' && g.id === robotId);
    if (!current || current.role === 'read')
      await this.identity.grantRepository(repository.id, { kind: 'robot', id: robotId }, 'write');
  }

  private async toMirror(repository: string, row: MirrorRow): Promise<RepositoryMirror> {
    return {
      repository,
      isEnabled: row.is_enabled === 1,
      externalReference: row.external_reference,
      username: row.username_sealed ? this.openOr(row.username_sealed, '(invalid. please re-enter)') : null,
      registryConfig: JSON.parse(row.registry_config) as RegistryConfig,
      syncInterval: row.sync_interval,
      syncStartDate: row.sync_start_date,
      syncExpirationDate: row.sync_expiration_date,
      syncRetriesRemaining: row.sync_retries_remaining,
      syncStatus: row.sync_status,
      tagGlobs: JSON.parse(row.root_rule) as string[],
      robotUsername: row.robot_id ? (await this.identity.delegateName('robot', row.robot_id)) || null : null,
      skopeoTimeout: row.skopeo_timeout,
      architectureFilter: JSON.parse(row.architecture_filter) as string[],
      lastError: row.last_error,
    };
  }

  private openOr(sealed: string, fallback: string): string {
    try {
      return this.secrets.open(sealed);
    } catch {
      return fallback;
    }
  }

  /**
   * Claims the mirror (compare-and-set on its transaction id), syncs, and releases it with the
   * outcome. Returns false when another worker holds it or it changed since it was read.
   */
  private async run(repositoryName: string, row: MirrorRow): Promise<boolean> {
    if (this.running.has(row.repository_id)) return false;
    const leaseMs = row.skopeo_timeout * 2000;
    const transaction = newId();
    const claimed = await this.store.updateIf(row.repository_id, row.sync_transaction_id, {
      sync_status: 'SYNCING',
      sync_expiration_date: this.clock.now() + leaseMs,
      sync_transaction_id: transaction,
    });
    if (!claimed) return false;
    const controller = new AbortController();
    this.running.set(row.repository_id, controller);
    const globs = JSON.parse(row.root_rule) as string[];
    const message = `'${row.external_reference}' with tag pattern '${globs.join(',')}'`;
    this.events.emit({ type: 'mirror.sync_started', repository: repositoryName, message });

    let outcome: { status: 'SUCCESS' | 'FAIL' | 'CANCEL'; error?: string };
    try {
      outcome = await this.sync(repositoryName, row, globs, transaction, leaseMs, controller.signal);
    } catch (err) {
      outcome = controller.signal.aborted
        ? { status: 'CANCEL' }
        : { status: 'FAIL', error: err instanceof Error ? err.message : String(err) };
    } finally {
      this.running.delete(row.repository_id);
    }
    if (controller.signal.reason === shuttingDown) {
      // Handed back as it was, due again for the next worker.
      await this.store.updateIf(row.repository_id, transaction, {
        sync_status: row.sync_status === 'SYNCING' ? 'SYNC_NOW' : row.sync_status,
        sync_expiration_date: null,
        sync_transaction_id: newId(),
      });
      return true;
    }

    await this.release(row, transaction, outcome.status, outcome.error ?? null);
    if (outcome.status === 'SUCCESS')
      this.events.emit({ type: 'mirror.sync_succeeded', repository: repositoryName, message });
    else
      this.events.emit({
        type: 'mirror.sync_failed',
        repository: repositoryName,
        message: outcome.status === 'CANCEL' ? `${message}: Cancelled` : `${message}: ${outcome.error}`,
      });
    return true;
  }

  private async sync(
    repositoryName: string,
    row: MirrorRow,
    globs: string[],
    transaction: string,
    leaseMs: number,
    signal: AbortSignal,
  ): Promise<{ status: 'SUCCESS' | 'FAIL' | 'CANCEL'; error?: string }> {
    const robot = await this.robotSubject(row.robot_id);
    const ref = parseRegistryReference(row.external_reference, 'external_reference', true);
    const config = JSON.parse(row.registry_config) as RegistryConfig;
    const upstream = new UpstreamRegistry({
      authority: ref.authority,
      insecure: config.verify_tls === false,
      credentials:
        row.username_sealed && row.password_sealed
          ? {
              username: this.secrets.open(row.username_sealed),
              password: this.secrets.open(row.password_sealed),
            }
          : undefined,
      policy: this.settings.policy,
      timeoutMs: row.skopeo_timeout * 1000,
      maxManifestBytes: this.settings.maxManifestBytes,
      signal,
    });

    const wanted = matchingTags(await upstream.tags(ref.path), globs);
    const local = new Map<string, string>();
    for (const tag of (await this.manifests.tags(repositoryName, {})).tags)
      local.set(tag, (await this.manifests.get(repositoryName, tag, false)).digest);

    const failed: string[] = [];
    for (const tag of wanted) {
      try {
        const remote = local.has(tag) ? await upstream.manifestDigest(ref.path, tag) : undefined;
        if (!remote || remote !== local.get(tag))
          await this.copier.copy(upstream, ref.path, tag, {
            repository: repositoryName,
            subject: robot,
            tag,
          });
      } catch (err) {
        if (signal.aborted) return { status: 'CANCEL' };
        failed.push(`${tag}: ${err instanceof Error ? err.message : String(err)}`);
      }
      // Renewing the claim also notices a cancel from another replica (it changes the transaction id).
      const renewed = await this.store.updateIf(row.repository_id, transaction, {
        sync_expiration_date: this.clock.now() + leaseMs,
      });
      if (!renewed || signal.aborted) return { status: 'CANCEL' };
    }

    const keep = new Set(wanted);
    for (const tag of local.keys())
      if (!keep.has(tag)) await this.manifests.delete(repositoryName, tag, robot).catch(() => undefined);

    return failed.length > 0 ? { status: 'FAIL', error: failed.join('; ') } : { status: 'SUCCESS' };
  }

  private async robotSubject(robotId: string | null): Promise<Subject> {
    const name = robotId ? await this.identity.delegateName('robot', robotId) : '';
    if (!robotId || !name) throw new Error('the mirror robot no longer exists');
    return { kind: 'robot', id: robotId, name, namespace: name.split('+', 1)[0]! };
  }

  /**
   * Quay's release_mirror: success schedules the next run at the next multiple of the interval
   * after the start date and resets the retries; a failure keeps the start date (so it runs again
   * at once) until the retries are spent, then waits for the next interval like a success; a
   * cancel clears the schedule until someone asks for a sync. An interval of 0 means no schedule.
   */
  private async release(
    row: MirrorRow,
    transaction: string,
    status: 'SUCCESS' | 'FAIL' | 'CANCEL',
    error: string | null,
  ): Promise<void> {
    const now = this.clock.now();
    let retries = row.sync_retries_remaining;
    let next: number | null = row.sync_start_date;
    if (status === 'FAIL') retries = Math.max(0, retries - 1);
    if (status === 'SUCCESS' || (status === 'FAIL' && retries < 1)) {
      const intervalMs = row.sync_interval * 1000;
      const start = row.sync_start_date ?? now;
      next = intervalMs > 0 ? now + intervalMs - (Math.max(0, now - start) % intervalMs) : null;
      retries = maxSyncRetries;
    }
    if (status === 'CANCEL') {
      next = null;
      retries = 0;
    }
    await this.store.updateIf(row.repository_id, transaction, {
      sync_status: status,
      sync_start_date: next,
      sync_expiration_date: null,
      sync_retries_remaining: retries,
      sync_transaction_id: newId(),
      last_error: error,
    });
  }
}

function mergeRegistryConfig(current: RegistryConfig, changes: RegistryConfig | undefined): RegistryConfig {
  if (!changes) return current;
  const merged: RegistryConfig = { ...current };
  if (changes.verify_tls !== undefined) merged.verify_tls = changes.verify_tls;
  if (changes.unsigned_images !== undefined) merged.unsigned_images = changes.unsigned_images;
  if (changes.proxy !== undefined) merged.proxy = { ...current.proxy, ...changes.proxy };
  return merged;
}
