import { Invalid } from '../platform/errors.js';
import { isDigest } from '../platform/blobs/digest.js';
import { isNonDistributable, manifestKinds, mediaTypes, type ManifestKind } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What the registry needs to know about a pushed manifest; the pushed bytes themselves are stored untouched. */
export interface ManifestDocument {
  kind: ManifestKind;
  mediaType: string;
  /** Blobs that must already be in the repository (config and distributable layers). */
  blobs: string[];
  /** Manifests an index points to, which must already be in the repository. */
  children: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const invalid = (message: string, detail?: unknown) => new Invalid('MANIFEST_INVALID', message, detail);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, artifactType, annotations } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a string`);
  if (typeof digest !== 'string' || !isDigest(digest))
    throw invalid(`${where}.digest is not a valid digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw invalid(`${where}.size must be a non-negative integer`);
  if (artifactType !== undefined && typeof artifactType !== 'string')
    throw invalid(`${where}.artifactType must be a string`);
  return {
    mediaType,
    digest,
    size,
    artifactType,
    annotations: stringMap(annotations, `${where}.annotations`),
  };
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string'))
    throw invalid(`${where} must map strings to strings`);
  return value as Record<string, string>;
}

/** Strips parameters (`; charset=...`) the spec says to ignore. */
const baseType = (contentType: string | undefined) =>
  contentType?.split(';', 1)[0]!.trim().toLowerCase() || undefined;

/**
 * Parses and checks a pushed manifest: JSON, schemaVersion 2, a known media type
 * that agrees with both the Content-Type and the document's shape (an index is
 * never accepted as an image or the other way round), and valid descriptors.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ManifestDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(json)) throw invalid('manifest must be a JSON object');

  const declared = json.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const header = baseType(contentType);
  if (
    declared === mediaTypes.dockerSchema1 ||
    declared === mediaTypes.dockerSchema1Signed ||
    header === mediaTypes.dockerSchema1 ||
    header === mediaTypes.dockerSchema1Signed ||
    json.schemaVersion === 1
  ) {
    // 400 MANIFEST_INVALID, as distribution answers it (405 would tell clients the operation is disabled).
    throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI', {
      mediaType: declared ?? header,
    });
  }
  if (json.schemaVersion !== 2)
    throw invalid('schemaVersion must be 2', { schemaVersion: json.schemaVersion });

  let mediaType: string;
  if (declared) {
    if (!manifestKinds[declared])
      throw invalid(`unknown manifest media type ${declared}`, { mediaType: declared });
    if (header && manifestKinds[header] && header !== declared) {
      throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
    }
    mediaType = declared;
  } else if (header && manifestKinds[header]) {
    mediaType = header;
  } else if (Array.isArray(json.manifests)) {
    mediaType = mediaTypes.ociIndex;
  } else if (isObject(json.config)) {
    mediaType = mediaTypes.ociManifest;
  } else {
    throw invalid(`unknown manifest media type ${header ?? '(none)'}`, { mediaType: header });
  }
  const kind = manifestKinds[mediaType]!;

  const annotations = stringMap(json.annotations, 'annotations');
  if (json.artifactType !== undefined && typeof json.artifactType !== 'string')
    throw invalid('artifactType must be a string');
  const subject =
    json.subject === undefined || json.subject === null
      ? undefined
      : descriptor(json.subject, 'subject').digest;

  if (kind === 'image') {
    if ('manifests' in json) throw invalid('an image manifest must not have "manifests"');
    const config = descriptor(json.config, 'config');
    if (!Array.isArray(json.layers)) throw invalid('layers must be an array');
    const layers = json.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    return {
      kind,
      mediaType,
      blobs: [
        ...new Set([
          config.digest,
          ...layers.filter((l) => !isNonDistributable(l.mediaType)).map((l) => l.digest),
        ]),
      ],
      children: [],
      subject,
      artifactType: (json.artifactType as string | undefined) ?? config.mediaType,
      annotations,
    };
  }
  if ('config' in json || 'layers' in json) throw invalid('an index must not have "config" or "layers"');
  if (!Array.isArray(json.manifests)) throw invalid('manifests must be an array');
  const manifests = json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
  return {
    kind,
    mediaType,
    blobs: [],
    children: [...new Set(manifests.map((m) => m.digest))],
    subject,
    artifactType: json.artifactType as string | undefined,
    annotations,
  };
}
