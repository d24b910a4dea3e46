import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Invalid, NotFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { subjectName, type Subject } from '../identity/index.js';
import type { ManifestDetailsService } from './manifest-details.service.js';
import type { LabelRow, LabelSource, LabelsStore } from './labels.store.js';
import type { Repository } from './repositories.service.js';
import { requireNormalState } from './repository-state.js';

export interface Label {
  id: string;
  key: string;
  value: string;
  sourceType: LabelSource;
  mediaType: string;
}

/** Key prefixes only the image itself may use (Quay's DEFAULT_LABEL_KEY_RESERVED_PREFIXES). */
const reservedPrefixes = [
  'com.docker.',
  'io.docker.',
  'org.dockerproject.',
  'org.opencontainers.',
  'io.cncf.',
  'io.kubernetes.',
  'io.k8s.',
  'io.quay',
  'com.coreos',
  'com.tectonic',
  'internal',
  'quay',
];
const keyPattern = /^[a-z0-9](([a-z0-9]|[-.](?![.-]))*[a-z0-9])?$/;
export const labelMediaTypes = ['text/plain', 'application/json'] as const;

/** Quay's `is_json`: a JSON object or array. */
function isJson(value: string): boolean {
  if (!(/^\{.*\}$/s.test(value) || /^\[.*\]$/s.test(value))) return false;
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}

const toLabel = (row: LabelRow): Label => ({
  id: row.id,
  key: row.key,
  value: row.value,
  sourceType: row.source_type,
  mediaType: row.media_type,
});
const messageError = (code: string, message: string, field: string) =>
  new Invalid(code, message, { field, payload: { message } });

/**
 * Labels of a manifest: those it defines itself (source `manifest`, immutable), copied on first
 * use, and those added through the API (source `api`), which may be deleted.
 */
export class LabelsService {
  constructor(
    private readonly store: LabelsStore,
    private readonly details: ManifestDetailsService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** Makes sure the manifest exists and its own labels are recorded. */
  private async prepare(repo: Repository, digest: string): Promise<void> {
    if (await this.store.scanned(repo.id, digest)) return;
    const own = await this.details.ownLabels(repo.name, digest); // NotFound for an unknown manifest
    const now = this.clock.now();
    const rows: LabelRow[] = Object.entries(own)
      .filter(([key]) => key !== '')
      .map(([key, value]) => ({
        id: newId(),
        repository_id: repo.id,
        manifest_digest: digest,
        key,
        value,
        media_type: isJson(value) ? 'application/json' : 'text/plain',
        source_type: 'manifest',
        created_at: now,
      }));
    await this.store.recordScan(repo.id, digest, rows);
  }

  async list(repo: Repository, digest: string, prefix?: string): Promise<Label[]> {
    await this.prepare(repo, digest);
    return (await this.store.list(repo.id, digest, prefix)).map(toLabel);
  }

  async get(repo: Repository, digest: string, id: string): Promise<Label> {
    await this.prepare(repo, digest);
    const row = await this.store.find(repo.id, digest, id);
    if (!row) throw new NotFound('LABEL_NOT_FOUND', 'Not Found');
    return toLabel(row);
  }

  /** Adds an API label; reserved prefixes and malformed keys are refused, as in Quay (in that order). */
  async add(
    repo: Repository,
    digest: string,
    input: { key: string; value: string; mediaType: string | null },
    subject: Subject,
  ): Promise<Label> {
    requireNormalState(repo);
    if (reservedPrefixes.some((p) => input.key.startsWith(p)))
      throw messageError('LABEL_RESERVED', 'Label has a reserved prefix', 'key');
    await this.prepare(repo, digest);
    if (!input.key || input.key.length > 255 || !keyPattern.test(input.key))
      throw messageError(
        'LABEL_KEY_INVALID',
        `Label is of an invalid format or missing please use ${keyPattern.source} format for labels`,
        'key',
      );
    const row: LabelRow = {
      id: newId(),
      repository_id: repo.id,
      manifest_digest: digest,
      key: input.key,
      value: input.value,
      media_type: input.mediaType ?? (isJson(input.value) ? 'application/json' : 'text/plain'),
      source_type: 'api',
      created_at: this.clock.now(),
    };
    await this.store.insert(row);
    this.events.emit({
      type: 'label.added',
      repository: repo.name,
      digest,
      key: row.key,
      value: row.value,
      actor: subjectName(subject),
    });
    return toLabel(row);
  }

  /** Deletes an API label; the manifest's own labels cannot be deleted. */
  async delete(repo: Repository, digest: string, id: string, subject: Subject): Promise<void> {
    requireNormalState(repo);
    const label = await this.get(repo, digest, id);
    if (label.sourceType !== 'api')
      throw new Invalid('LABEL_IMMUTABLE', 'Cannot delete immutable label', {
        payload: { message: 'Cannot delete immutable label' },
      });
    if (!(await this.store.delete(id))) throw new NotFound('LABEL_NOT_FOUND', 'Not Found');
    this.events.emit({
      type: 'label.deleted',
      repository: repo.name,
      digest,
      key: label.key,
      actor: subjectName(subject),
    });
  }
}
