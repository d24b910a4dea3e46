/**
 * Build provenance: for every image a run builds and pushes to Slipway's registry, an in-toto Statement
 * (v1) with an SLSA Provenance v1 predicate, signed as a DSSE envelope with the server's key and pushed as
 * an OCI artifact whose `subject` is the image manifest, so `GET /v2/<name>/referrers/<digest>` lists it.
 *
 * Wire shape of the artifact (what verifiers rely on):
 * - manifest: OCI image manifest, `artifactType` `application/vnd.in-toto+json`, config the OCI empty
 *   descriptor (`{}`), `subject` the image manifest's descriptor, annotations
 *   `in-toto.io/predicate-type` and `org.opencontainers.image.created`;
 * - one layer, media type `application/vnd.dsse.envelope.v1+json`: the envelope
 *   `{payloadType: "application/vnd.in-toto+json", payload: base64(statement), signatures: [{keyid, sig}]}`,
 *   `sig` = base64 of an ECDSA P-256 / SHA-256 signature, DER-encoded, over the DSSE v1 pre-authentication
 *   encoding (PAE) of payloadType and payload; `keyid` the id of the server's signing key (see
 *   `RegistryTokens.signingKey`: the key that signs registry tokens, kept sealed in the database and shared
 *   by every replica).
 *
 * `buildType` https://slipway.dev/build/v1 means: a Dockerfile built with buildah from the source checked
 * out at `externalParameters.source.commit`; `externalParameters` are what the pipeline author controls
 * (source, Dockerfile, context, target, build arguments, trigger event), `internalParameters` say which
 * pipeline, run, job and step built it.
 */
import { createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { JWK } from 'jose';
import type { Subject } from '../identity/index.js';
import type { ManifestsService, UploadsService } from '../registry/index.js';
import { digestOf } from '../platform/blobs/digest.js';
import type { Clock } from '../platform/clock.js';

export const SLIPWAY_BUILD_TYPE = 'https://slipway.dev/build/v1';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The DSSE payload type of an in-toto statement, and the `artifactType` of the provenance manifest. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const PROVENANCE_ARTIFACT_TYPE = IN_TOTO_PAYLOAD_TYPE;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY_JSON = Buffer.from('{}');

/** What the engine knows about one image build, everything the statement says. */
export interface BuildFacts {
  /** The image as people pull it: `registry.example.com/team/web`, and its manifest digest. */
  image: { name: string; digest: string };
  /** Clone URL (credentials are stripped before it is written), full commit id, git ref (may be empty). */
  source: { repository: string; commit: string; ref: string };
  /** As the build step used them: paths relative to the workspace, arguments expanded. */
  build: { dockerfile: string; context: string; target?: string; buildArgs: Record<string, string> };
  event: string;
  pipeline: { id: string; name: string; namespace: string };
  run: { id: string; number: number };
  job: { id: string; name: string };
  step: { id: string; name: string; index: number };
  /** Epoch milliseconds: when the build began and ended. */
  startedOn: number;
  finishedOn: number;
}

export interface Builder {
  /** The server's public URL + `/builder`. */
  id: string;
  /** Slipway's version. */
  version: string;
}

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest: Record<string, string>;
}

export interface ProvenanceStatement {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters: Record<string, unknown>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata: { invocationId: string; startedOn: string; finishedOn: string };
    };
  };
}

export interface DsseEnvelope {
  payloadType: string;
  /** Base64 (standard alphabet) of the payload bytes. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** What signs envelopes: the server's key (`RegistryTokens` is one). */
export interface ProvenanceSigner {
  readonly signingKey: { keyId: string; publicJwk: JWK };
  sign(bytes: Uint8Array): Uint8Array;
}

export function provenanceStatement(facts: BuildFacts, builder: Builder): ProvenanceStatement {
  const [algorithm, hex] = facts.image.digest.split(':') as [string, string];
  const repository = withoutCredentials(facts.source.repository);
  const build = facts.build;
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: facts.image.name, digest: { [algorithm]: hex } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: SLIPWAY_BUILD_TYPE,
        externalParameters: {
          source: { repository, commit: facts.source.commit, ref: facts.source.ref },
          dockerfile: build.dockerfile,
          context: build.context,
          ...(build.target !== undefined ? { target: build.target } : {}),
          buildArgs: build.buildArgs,
          event: facts.event,
        },
        internalParameters: {
          pipeline: facts.pipeline,
          run: facts.run,
          job: facts.job,
          step: facts.step,
        },
        resolvedDependencies: repository
          ? [
              {
                uri: `git+${repository}${facts.source.ref ? `@${facts.source.ref}` : ''}`,
                digest: { gitCommit: facts.source.commit },
              },
            ]
          : [],
      },
      runDetails: {
        builder: { id: builder.id, version: { slipway: builder.version } },
        metadata: {
          invocationId: facts.run.id,
          startedOn: new Date(facts.startedOn).toISOString(),
          finishedOn: new Date(facts.finishedOn).toISOString(),
        },
      },
    },
  };
}

/** A clone URL without `user:password@`, which must never reach a statement anyone may pull. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url; // scp-like `git@host:path`: the user there is no secret
  }
}

/** DSSE v1 pre-authentication encoding: `DSSEv1 <len> <type> <len> <payload>`, lengths in bytes. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

export function signStatement(statement: ProvenanceStatement, signer: ProvenanceSigner): DsseEnvelope {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = signer.sign(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  return {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid: signer.signingKey.keyId, sig: Buffer.from(sig).toString('base64') }],
  };
}

/** An envelope that is not an in-toto statement signed by the key given. */
export class ProvenanceVerificationError extends Error {}

/**
 * Checks that `envelope` (parsed JSON or its bytes) is a DSSE envelope of an in-toto statement with a
 * signature by `publicJwk` (EC P-256; when both name a key id, the ids must agree) and returns the
 * statement. Throws ProvenanceVerificationError otherwise.
 */
export function verifyEnvelope(envelope: unknown, publicJwk: JWK): ProvenanceStatement {
  const parsed =
    typeof envelope === 'object' && !(envelope instanceof Uint8Array) ? envelope : parse(envelope);
  const { payloadType, payload, signatures } = (parsed ?? {}) as Partial<DsseEnvelope>;
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new ProvenanceVerificationError(`payloadType is not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  if (typeof payload !== 'string' || !Array.isArray(signatures)) {
    throw new ProvenanceVerificationError('not a DSSE envelope');
  }
  const key = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' });
  const body = Buffer.from(payload, 'base64');
  const signed = preAuthEncoding(payloadType, body);
  const valid = signatures.some(
    (s) =>
      typeof s?.sig === 'string' &&
      (publicJwk.kid === undefined || !s.keyid || s.keyid === publicJwk.kid) &&
      verifySignature('sha256', signed, { key, dsaEncoding: 'der' }, Buffer.from(s.sig, 'base64')),
  );
  if (!valid) throw new ProvenanceVerificationError('no signature verifies with the key');
  const statement = parse(body) as ProvenanceStatement;
  if (statement?._type !== IN_TOTO_STATEMENT_V1) {
    throw new ProvenanceVerificationError('payload is not an in-toto v1 statement');
  }
  return statement;
}

function parse(value: unknown): unknown {
  try {
    return JSON.parse(Buffer.from(value as Uint8Array | string).toString('utf8'));
  } catch {
    throw new ProvenanceVerificationError('not JSON');
  }
}

export interface PublishedProvenance {
  /** Digest of the artifact manifest (a referrer of the image). */
  digest: string;
  statement: ProvenanceStatement;
}

/** Signs build facts and stores them beside the image, through the registry services. */
export class ProvenancePublisher {
  constructor(
    private readonly deps: {
      uploads: UploadsService;
      manifests: ManifestsService;
      signer: ProvenanceSigner;
      builder: Builder;
      clock: Clock;
    },
  ) {}

  get builder(): Builder {
    return this.deps.builder;
  }

  /** Pushes the provenance of `facts.image` into `repository` (where the image is), as `actor`. */
  async publish(repository: string, facts: BuildFacts, actor: Subject): Promise<PublishedProvenance> {
    const image = await this.deps.manifests.get(repository, facts.image.digest, false, actor);
    const statement = provenanceStatement(facts, this.deps.builder);
    const envelope = Buffer.from(JSON.stringify(signStatement(statement, this.deps.signer)), 'utf8');
    const [envelopeDigest, emptyDigest] = await Promise.all([
      this.putBlob(repository, envelope, actor),
      this.putBlob(repository, EMPTY_JSON, actor),
    ]);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: PROVENANCE_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY, digest: emptyDigest, size: EMPTY_JSON.length, data: 'e30=' },
      layers: [
        {
          mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
          digest: envelopeDigest,
          size: envelope.length,
          annotations: { 'in-toto.io/predicate-type': SLSA_PROVENANCE_V1 },
        },
      ],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
      annotations: {
        'in-toto.io/predicate-type': SLSA_PROVENANCE_V1,
        'org.opencontainers.image.created': new Date(this.deps.clock.now()).toISOString(),
      },
    };
    const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    const { digest } = await this.deps.manifests.put(repository, digestOf(bytes), bytes, OCI_MANIFEST, actor);
    return { digest, statement };
  }

  private async putBlob(repository: string, bytes: Buffer, actor: Subject): Promise<string> {
    const digest = digestOf(bytes);
    const upload = await this.deps.uploads.start(repository, actor);
    try {
      return await this.deps.uploads.finish(repository, upload.id, digest, Readable.from([bytes]));
    } catch (err) {
      await this.deps.uploads.cancel(repository, upload.id).catch(() => undefined);
      throw err;
    }
  }
}

/** Slipway's version, from its package.json (the builder version in every statement). */
export function slipwayVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
