// Shared fixtures for the OCI conformance suites: random blobs, configs and manifests with their digests,
// a registry session that authenticates once per repository (as docker does), raw HTTP for requests
// fetch would rewrite (path traversal, streamed bodies), and assertions on OCI error bodies.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { postgresAvailable, testDatabases, type TestDatabaseKind } from '../support/databases.js';
import { RegistryClient, type RegistryResponse, type RequestOptions } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

export const mt = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  octetStream: 'application/octet-stream',
} as const;

export type Algorithm = 'sha256' | 'sha512';

export const digestOf = (bytes: Uint8Array | string, algorithm: Algorithm = 'sha256'): string =>
  `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;

/** sha256 of "hello world": the legacy suite's digest that no registry holds. */
export const dummyDigest = digestOf('hello world');
export const emptyBlobDigest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const emptyJsonDigest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const randomDigest = (algorithm: Algorithm = 'sha256'): string => digestOf(randomBytes(32), algorithm);
export const randomSuffix = (): string => randomBytes(4).toString('hex');

export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

export function blobOf(
  bytes: Uint8Array | string,
  mediaType: string = mt.ociLayerGzip,
  algorithm: Algorithm = 'sha256',
): Blob {
  const buf = Buffer.from(bytes);
  return { bytes: buf, digest: digestOf(buf, algorithm), size: buf.length, mediaType };
}

export const randomBlob = (
  size: number,
  mediaType: string = mt.ociLayerGzip,
  algorithm: Algorithm = 'sha256',
): Blob => blobOf(randomBytes(size), mediaType, algorithm);

/** An image config with a random author, as the legacy suite makes one per workflow. */
export function randomConfig(mediaType: string = mt.ociConfig, algorithm: Algorithm = 'sha256'): Blob {
  const config = {
    author: `conformance-${randomBytes(8).toString('hex')}`,
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] as string[] },
  };
  return blobOf(JSON.stringify(config), mediaType, algorithm);
}

export const emptyJsonBlob = (): Blob => blobOf('{}', mt.empty);
export const emptyBlob = (): Blob => blobOf(Buffer.alloc(0), mt.ociLayerTar);

export function descriptorOf(
  item: Blob | Manifest,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { mediaType: item.mediaType, digest: item.digest, size: item.size, ...extra };
}

export interface Manifest {
  /** Exactly the bytes pushed. */
  bytes: Buffer;
  digest: string;
  size: number;
  /** The Content-Type to push with (= the body's mediaType, or the type the body implies). */
  mediaType: string;
  json: Record<string, unknown>;
}

/** A manifest from a JSON value (serialised with JSON.stringify, or `format` for unusual spacing). */
export function manifestOf(
  json: Record<string, unknown>,
  opts: {
    mediaType?: string;
    algorithm?: Algorithm;
    format?: (json: Record<string, unknown>) => string;
  } = {},
): Manifest {
  const bytes = Buffer.from(opts.format ? opts.format(json) : JSON.stringify(json));
  const mediaType = opts.mediaType ?? (typeof json.mediaType === 'string' ? json.mediaType : mt.ociManifest);
  return { bytes, digest: digestOf(bytes, opts.algorithm), size: bytes.length, mediaType, json };
}

export interface ImageOptions {
  config: Blob;
  layers?: Blob[];
  subject?: Manifest;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The mediaType field: the OCI manifest type by default, `null` to leave it out. */
  mediaType?: string | null;
  /** Extra fields for the config descriptor (e.g. `data`, unknown fields). */
  configExtra?: Record<string, unknown>;
  /** Extra top-level fields. */
  extra?: Record<string, unknown>;
  /** Layer descriptors to use as they are (e.g. non-distributable ones with urls). */
  layerDescriptors?: Record<string, unknown>[];
  algorithm?: Algorithm;
}

export function imageManifest(opts: ImageOptions): Manifest {
  const mediaType = opts.mediaType === undefined ? mt.ociManifest : opts.mediaType;
  const json: Record<string, unknown> = { schemaVersion: 2 };
  if (mediaType !== null) json.mediaType = mediaType;
  if (opts.artifactType !== undefined) json.artifactType = opts.artifactType;
  json.config = descriptorOf(opts.config, opts.configExtra);
  json.layers = opts.layerDescriptors ?? (opts.layers ?? []).map((l) => descriptorOf(l));
  if (opts.subject) json.subject = descriptorOf(opts.subject);
  if (opts.annotations) json.annotations = opts.annotations;
  Object.assign(json, opts.extra);
  return manifestOf(json, { mediaType: mediaType ?? mt.ociManifest, algorithm: opts.algorithm });
}

export interface IndexOptions {
  manifests: Array<Manifest | { manifest: Manifest; platform?: { architecture: string; os: string } }>;
  subject?: Manifest;
  artifactType?: string;
  annotations?: Record<string, string>;
  mediaType?: string | null;
  algorithm?: Algorithm;
}

export function imageIndex(opts: IndexOptions): Manifest {
  const mediaType = opts.mediaType === undefined ? mt.ociIndex : opts.mediaType;
  const json: Record<string, unknown> = { schemaVersion: 2 };
  if (mediaType !== null) json.mediaType = mediaType;
  if (opts.artifactType !== undefined) json.artifactType = opts.artifactType;
  json.manifests = opts.manifests.map((m) =>
    'manifest' in m ? descriptorOf(m.manifest, m.platform ? { platform: m.platform } : {}) : descriptorOf(m),
  );
  if (opts.subject) json.subject = descriptorOf(opts.subject);
  if (opts.annotations) json.annotations = opts.annotations;
  return manifestOf(json, { mediaType: mediaType ?? mt.ociIndex, algorithm: opts.algorithm });
}

/** Appends `digest=` to an upload Location, keeping any query it already has. */
export function withDigest(location: string, digest: string, encode = true): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encode ? encodeURIComponent(digest) : digest}`;
}

/** The path (and query) of a Location header, which may be absolute. */
export function locationPath(location: string | null): string {
  assert.ok(location, 'expected a Location header');
  return location.startsWith('/') ? location : new URL(location).pathname + new URL(location).search;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json<T = unknown>(): T;
}

export interface RawOptions {
  headers?: Record<string, string>;
  /** Sent with Content-Length. */
  body?: Uint8Array | string;
  /** Sent one by one without Content-Length (chunked transfer encoding). */
  chunks?: Uint8Array[];
}

/** Repository name of a `/v2/<name>/<endpoint>/...` path. */
export function repositoryOf(path: string): string | undefined {
  return /^\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(path.split('?', 1)[0]!)?.[1];
}

/**
 * A registry session as a client tool keeps one: it authenticates through the Bearer challenge
 * the first time (RegistryClient), then reuses one pull,push,delete token per repository.
 */
export class Registry {
  readonly client: RegistryClient;
  private readonly repositoryTokens = new Map<string, Promise<string | undefined>>();

  constructor(
    readonly server: TestServer,
    readonly credentials: { username: string; password: string } = {
      username: 'admin',
      password: adminPassword,
    },
  ) {
    this.client = new RegistryClient(server.url, credentials);
  }

  /** A token for pull, push and delete on a repository (what the registry grants of it). */
  token(name: string): Promise<string | undefined> {
    let token = this.repositoryTokens.get(name);
    if (!token) {
      token = this.client.token([`repository:${name}:pull,push,delete`]).then((r) => r.token);
      this.repositoryTokens.set(name, token);
    }
    return token;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<RegistryResponse> {
    const name = repositoryOf(path);
    if (name !== undefined && opts.authorization === undefined) {
      const token = await this.token(name);
      if (token) {
        const res = await this.client.request(method, path, { ...opts, authorization: `Bearer ${token}` });
        if (res.status !== 401) return res;
      }
    }
    return this.client.request(method, path, opts);
  }

  /** A request through node:http: the path goes out verbatim (no URL normalisation), bodies may be streamed. */
  async raw(method: string, path: string, opts: RawOptions = {}): Promise<RawResponse> {
    const name = repositoryOf(path);
    const token = name !== undefined && /^[a-z0-9/._-]+$/.test(name) ? await this.token(name) : undefined;
    const headers: Record<string, string> = { ...opts.headers };
    if (token && headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined && headers['content-length'] === undefined)
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    const url = new URL(this.server.url);
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const req = http.request(
        { host: url.hostname, port: url.port, method, path, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            settled = true;
            const body = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              json: <T>() => JSON.parse(body.toString('utf8')) as T,
            });
          });
          res.on('error', reject);
        },
      );
      // The server may answer (413, 416) before it has read the whole body; that is not a client error.
      req.on('error', (err) => {
        if (!settled) setTimeout(() => !settled && reject(err), 200);
      });
      const write = async () => {
        if (opts.chunks) {
          for (const chunk of opts.chunks) {
            if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        } else {
          req.end(opts.body);
        }
      };
      write().catch(reject);
    });
  }

  /** POST then PUT ?digest= with the whole body; asserts 202 and 201. */
  async pushBlob(name: string, blob: Blob): Promise<RegistryResponse> {
    const start = await this.request('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(start.status, 202, `POST upload: ${start.body.toString()}`);
    const done = await this.request(
      'PUT',
      withDigest(locationPath(start.headers.get('location')), blob.digest),
      {
        body: blob.bytes,
        headers: { 'content-type': mt.octetStream },
      },
    );
    assert.equal(done.status, 201, `PUT upload of ${blob.digest}: ${done.body.toString()}`);
    return done;
  }

  async pushBlobs(name: string, ...blobs: Blob[]): Promise<void> {
    for (const blob of blobs) await this.pushBlob(name, blob);
  }

  putManifest(
    name: string,
    reference: string,
    manifest: Manifest,
    contentType: string = manifest.mediaType,
  ): Promise<RegistryResponse> {
    return this.request('PUT', `/v2/${name}/manifests/${reference}`, {
      body: manifest.bytes,
      headers: { 'content-type': contentType },
    });
  }

  /** PUT by digest or tag; asserts 201, Location and Docker-Content-Digest. */
  async pushManifest(
    name: string,
    manifest: Manifest,
    reference: string = manifest.digest,
  ): Promise<RegistryResponse> {
    const res = await this.putManifest(name, reference, manifest);
    assert.equal(res.status, 201, `PUT manifest ${name}:${reference}: ${res.body.toString()}`);
    assert.equal(res.headers.get('location'), `/v2/${name}/manifests/${manifest.digest}`);
    assert.equal(res.headers.get('docker-content-digest'), manifest.digest);
    return res;
  }

  getManifest(name: string, reference: string, method: 'GET' | 'HEAD' = 'GET'): Promise<RegistryResponse> {
    return this.request(method, `/v2/${name}/manifests/${reference}`, {
      headers: { accept: [mt.ociManifest, mt.ociIndex, mt.dockerManifest, mt.dockerList].join(', ') },
    });
  }

  getBlob(
    name: string,
    digest: string,
    method: 'GET' | 'HEAD' = 'GET',
    headers: Record<string, string> = {},
  ): Promise<RegistryResponse> {
    return this.request(method, `/v2/${name}/blobs/${digest}`, { headers });
  }

  async tags(name: string, query = ''): Promise<RegistryResponse> {
    return this.request('GET', `/v2/${name}/tags/list${query}`);
  }

  async tagList(name: string): Promise<string[]> {
    const res = await this.tags(name);
    assert.equal(res.status, 200, res.body.toString());
    return res.json<{ tags: string[] }>().tags;
  }
}

/** GET and HEAD of a manifest reference return exactly the pushed bytes, type, length and digest. */
export async function assertManifest(
  registry: Registry,
  name: string,
  reference: string,
  manifest: Manifest,
): Promise<void> {
  const get = await registry.getManifest(name, reference);
  assert.equal(get.status, 200, `GET ${name}:${reference}: ${get.body.toString()}`);
  assert.ok(get.body.equals(manifest.bytes), `GET ${name}:${reference} returns the pushed bytes`);
  assert.equal(get.headers.get('content-type'), manifest.mediaType);
  assert.equal(get.headers.get('content-length'), String(manifest.size));
  assert.equal(get.headers.get('docker-content-digest'), manifest.digest);
  const head = await registry.getManifest(name, reference, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.get('content-type'), manifest.mediaType);
  assert.equal(head.headers.get('content-length'), String(manifest.size));
  assert.equal(head.headers.get('docker-content-digest'), manifest.digest);
}

/** GET and HEAD of a blob return exactly its bytes, length and digest. */
export async function assertBlob(registry: Registry, name: string, blob: Blob): Promise<void> {
  const get = await registry.getBlob(name, blob.digest);
  assert.equal(get.status, 200, `GET blob ${blob.digest}: ${get.body.toString()}`);
  assert.ok(get.body.equals(blob.bytes), 'GET blob returns the pushed bytes');
  assert.equal(get.headers.get('content-length'), String(blob.size));
  assert.equal(get.headers.get('docker-content-digest'), blob.digest);
  const head = await registry.getBlob(name, blob.digest, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.get('content-length'), String(blob.size));
  assert.equal(head.headers.get('docker-content-digest'), blob.digest);
}

/** Status plus an OCI error body `{"errors":[{"code":...}]}` whose first code is one of `codes`. */
export function assertOciError(
  res: RegistryResponse | RawResponse,
  status: number,
  ...codes: string[]
): void {
  const text = res.body.toString('utf8');
  assert.equal(res.status, status, `expected ${status} ${codes.join('|')}, got ${res.status}: ${text}`);
  let body: { errors?: Array<{ code?: unknown; message?: unknown }> };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    assert.fail(`error body is not JSON: ${JSON.stringify(text)}`);
  }
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `error body has errors[]: ${text}`);
  const code = body.errors[0]!.code;
  assert.equal(typeof code, 'string');
  if (codes.length > 0)
    assert.ok(codes.includes(code as string), `error code ${String(code)} is one of ${codes.join(', ')}`);
}

/** Header lookup for both response kinds. */
export function header(res: RegistryResponse | RawResponse, name: string): string | undefined {
  if (res.headers instanceof Headers) return res.headers.get(name) ?? undefined;
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

export interface SuiteContext {
  database: TestDatabaseKind;
  server: TestServer;
  registry: Registry;
}

/**
 * One top-level test per database from testDatabases(), each with its own server; `body`
 * declares the workflow's steps as subtests (run in order, on that server).
 */
export function suite(title: string, body: (t: TestContext, ctx: SuiteContext) => Promise<void>): void {
  for (const database of testDatabases()) {
    test(`${title} (${database})`, async (t) => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        t.skip('PostgreSQL is not reachable');
        return;
      }
      const server = await startTestServer({ database });
      t.after(() => server.close());
      await body(t, { database, server, registry: new Registry(server) });
    });
  }
}
