import type { BlobStore } from '../platform/blobs/blob-store.js';
import { isDigest } from '../platform/blobs/digest.js';
import { NotFound } from '../platform/errors.js';
import { manifestKinds, mediaTypes } from './media-types.js';
import type { RegistryStore } from './registry.store.js';

/** One layer as Quay's manifest view lists it (`endpoints/api/manifest.py` `_layer_dict`). */
export interface LayerInfo {
  index: number;
  compressedSize: number;
  isRemote: boolean;
  urls: string[] | null;
  command: unknown[] | null;
  comment: string | null;
  author: string | null;
  blobDigest: string;
  /** Epoch milliseconds, from the image config's history. */
  created: number | null;
}

export interface ManifestDetails {
  digest: string;
  mediaType: string;
  isManifestList: boolean;
  bytes: Uint8Array;
  configMediaType: string | null;
  /** Sum of the layer sizes (0 for a manifest list). */
  layersSize: number;
  /** Null for a manifest list. */
  layers: LayerInfo[] | null;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
}

interface ParsedManifest {
  mediaType: string;
  isList: boolean;
  config?: Descriptor;
  layers: Descriptor[];
  children: string[];
  annotations: Record<string, string>;
}

interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** What Quay stands in for a history entry without a layer (`EMPTY_LAYER_BLOB_DIGEST`, `EMPTY_LAYER_SIZE`). */
const emptyLayerDigest = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const emptyLayerSize = 32;
const ociImageConfig = 'application/vnd.oci.image.config.v1+json';
const maxConfigBytes = 8 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const stringMap = (v: unknown): Record<string, string> =>
  isObject(v)
    ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {};

function descriptorOf(v: unknown): Descriptor | undefined {
  if (!isObject(v) || typeof v.digest !== 'string' || !isDigest(v.digest)) return undefined;
  return {
    mediaType: typeof v.mediaType === 'string' ? v.mediaType : undefined,
    digest: v.digest,
    size: typeof v.size === 'number' ? v.size : 0,
    urls: Array.isArray(v.urls) ? v.urls.filter((u): u is string => typeof u === 'string') : undefined,
  };
}

/** Reads a stored manifest (already validated when pushed) for display. */
export function parseStoredManifest(bytes: Uint8Array, storedMediaType: string): ParsedManifest {
  const json: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  const doc = isObject(json) ? json : {};
  const isList = manifestKinds[storedMediaType] === 'index';
  return {
    mediaType: storedMediaType,
    isList,
    config: isList ? undefined : descriptorOf(doc.config),
    layers:
      isList || !Array.isArray(doc.layers) ? [] : doc.layers.map(descriptorOf).filter((d) => d !== undefined),
    children:
      isList && Array.isArray(doc.manifests)
        ? doc.manifests.map(descriptorOf).flatMap((d) => (d ? [d.digest] : []))
        : [],
    annotations: stringMap(doc.annotations),
  };
}

/** Quay's `layers_compressed_size`: the layers' sizes, or null for a manifest list. */
export function layersSizeOf(parsed: ParsedManifest): number | null {
  return parsed.isList ? null : parsed.layers.reduce((sum, l) => sum + l.size, 0);
}

/** Whether the manifest is a container image (its config is an image config), rather than an artifact. */
function isImage(parsed: ParsedManifest): boolean {
  if (parsed.isList) return false;
  if (parsed.mediaType === mediaTypes.dockerManifest) return true;
  return parsed.config?.mediaType === ociImageConfig;
}

const parseDate = (value: unknown): number | null => {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
};

/**
 * Manifest details as Quay's API shows them: layers with sizes and the image config's history,
 * and the labels an image carries (its config labels and manifest annotations).
 */
export class ManifestDetailsService {
  constructor(
    private readonly store: RegistryStore,
    private readonly blobs: BlobStore,
  ) {}

  private async load(repositoryName: string, digest: string) {
    const row = isDigest(digest)
      ? await this.store.manifestByDigest(repositoryName, digest, true)
      : undefined;
    if (!row?.bytes || row.bytes.length === 0)
      throw new NotFound('MANIFEST_UNKNOWN', 'Not Found', { digest });
    return { row, parsed: parseStoredManifest(row.bytes, row.media_type) };
  }

  async describe(repositoryName: string, digest: string): Promise<ManifestDetails> {
    const { row, parsed } = await this.load(repositoryName, digest);
    return {
      digest: row.digest,
      mediaType: row.media_type,
      isManifestList: parsed.isList,
      bytes: row.bytes,
      configMediaType: parsed.config?.mediaType ?? null,
      layersSize: layersSizeOf(parsed) ?? 0,
      layers: parsed.isList ? null : await this.layers(parsed),
    };
  }

  /**
   * The labels a manifest defines itself (Quay `get_manifest_labels`): an image's config labels
   * overlaid with the manifest's annotations; a Docker image only its config labels; anything
   * else its annotations.
   */
  async ownLabels(repositoryName: string, digest: string): Promise<Record<string, string>> {
    const { parsed } = await this.load(repositoryName, digest);
    if (!isImage(parsed)) return parsed.annotations;
    const config = await this.config(parsed);
    const labels = stringMap(isObject(config?.config) ? config.config.Labels : undefined);
    return parsed.mediaType === mediaTypes.dockerManifest ? labels : { ...labels, ...parsed.annotations };
  }

  /** The image config JSON, or undefined when it is not an image, is missing or is not JSON. */
  private async config(parsed: ParsedManifest): Promise<Record<string, unknown> | undefined> {
    if (!parsed.config || parsed.config.size > maxConfigBytes) return undefined;
    if (!(await this.blobs.stat(parsed.config.digest))) return undefined;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.blobs.read(parsed.config.digest)) chunks.push(chunk as Buffer);
      const json: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      return isObject(json) ? json : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Quay's layer list: for an image, one entry per config history entry (an empty-layer entry
   * stands for no blob); without history, the layers with the config's own date, author and Cmd
   * on the last one. For an artifact, its layers as they are.
   */
  private async layers(parsed: ParsedManifest): Promise<LayerInfo[]> {
    const plain = (layer: Descriptor, index: number): LayerInfo => ({
      index,
      compressedSize: layer.size,
      isRemote: (layer.urls?.length ?? 0) > 0,
      urls: layer.urls ?? null,
      command: null,
      comment: null,
      author: null,
      blobDigest: layer.digest,
      created: null,
    });
    if (!isImage(parsed)) return parsed.layers.map(plain);
    const config = (await this.config(parsed)) ?? {};
    const history = Array.isArray(config.history) ? (config.history.filter(isObject) as HistoryEntry[]) : [];

    if (history.length === 0 || history.filter((h) => !h.empty_layer).length < parsed.layers.length) {
      const runConfig = isObject(config.config) ? config.config : {};
      return parsed.layers.map((layer, index) => {
        const info = plain(layer, index);
        if (index !== parsed.layers.length - 1) return info;
        return {
          ...info,
          command: Array.isArray(runConfig.Cmd) ? runConfig.Cmd : null,
          author: stringOrNull(config.author),
          created: parseDate(config.created),
        };
      });
    }
    let blobIndex = 0;
    return history.map((entry, index) => {
      const layer = entry.empty_layer ? undefined : parsed.layers[blobIndex++];
      return {
        index,
        compressedSize: layer ? layer.size : emptyLayerSize,
        isRemote: (layer?.urls?.length ?? 0) > 0,
        urls: layer?.urls ?? null,
        command: commandOf(entry.created_by),
        comment: stringOrNull(entry.comment),
        author: stringOrNull(entry.author),
        blobDigest: layer ? layer.digest : emptyLayerDigest,
        created: parseDate(entry.created),
      };
    });
  }
}

/** A history `created_by` as Quay shows it: a JSON array as is, any other string wrapped in one. */
function commandOf(createdBy: unknown): unknown[] | null {
  if (typeof createdBy !== 'string' || createdBy === '') return null;
  try {
    const parsed: unknown = JSON.parse(createdBy);
    if (Array.isArray(parsed)) return parsed;
  } catch {
    // not JSON: a shell command line
  }
  return [createdBy];
}
