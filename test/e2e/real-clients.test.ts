// End-to-end: real registry clients (skopeo, buildah, podman) against a running Slipway on SQLite.
// No container engine runs here: images come from buildTestImages (buildah, chroot isolation, vfs),
// and everything talks plain HTTP to 127.0.0.1, hence --tls-verify=false on every registry access.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  buildTestImages,
  HELLO_TEXT,
  RELEASE_TEXT,
  TEST_IMAGE_TAG,
  TEST_INDEX_TAG,
  type TestImages,
} from '../support/images.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { containersEnv, requireTools, run, runOk } from '../support/tools.js';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}
interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface ImageIndex {
  mediaType?: string;
  manifests: Descriptor[];
}

const tools = ['buildah', 'skopeo', 'podman', 'busybox'];
const toolTimeoutMs = 60_000;
const admin = { username: 'admin', password: adminPassword };
const adminCreds = `admin:${adminPassword}`;

const sha256 = (bytes: Uint8Array | string): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The bytes of a blob in an OCI layout. */
function layoutBlob(layout: string, digest: string): Promise<Buffer> {
  const [algorithm, hex] = digest.split(':');
  assert.ok(algorithm && hex, `bad digest ${digest}`);
  return readFile(join(layout, 'blobs', algorithm, hex));
}

/** The descriptor a layout's index.json holds for `tag` (org.opencontainers.image.ref.name). */
async function layoutEntry(layout: string, tag: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex;
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(entry, `no ${tag} in ${layout}/index.json: ${JSON.stringify(index)}`);
  return entry;
}

/** Every blob an image manifest references (config first), as digests. */
const blobsOf = (manifest: ImageManifest): string[] => [
  manifest.config.digest,
  ...manifest.layers.map((l) => l.digest),
];

/** Asserts that the image `digest` has byte-identical manifest, config and layers in both layouts. */
async function assertSameImage(fromLayout: string, toLayout: string, digest: string): Promise<void> {
  const [a, b] = await Promise.all([layoutBlob(fromLayout, digest), layoutBlob(toLayout, digest)]);
  assert.equal(sha256(b), digest);
  assert.ok(a.equals(b), `manifest ${digest} differs`);
  const manifest = JSON.parse(a.toString('utf8')) as ImageManifest;
  assert.ok(manifest.layers.length >= 3, 'expected a multi-layer image');
  for (const blob of blobsOf(manifest)) {
    const [x, y] = await Promise.all([layoutBlob(fromLayout, blob), layoutBlob(toLayout, blob)]);
    assert.equal(sha256(y), blob, `blob ${blob} in ${toLayout} does not match its digest`);
    assert.ok(x.equals(y), `blob ${blob} differs`);
  }
}

describe('real registry clients against Slipway', { concurrency: false }, () => {
  let server: TestServer;
  let workDir: string;
  let dirs = 0;

  before(async () => {
    server = await startTestServer();
    workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-'));
  });
  after(async () => {
    await server?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** Builds the test images once for the file (after the tools are known to be there). */
  const images = (): Promise<TestImages> => buildTestImages(join(workDir, 'images'));
  /** A fresh, isolated containers storage and auth file: pulls there must fetch every byte from Slipway. */
  const freshEnv = (name: string): NodeJS.ProcessEnv => containersEnv(join(workDir, `${name}-${++dirs}`));
  const newDir = (name: string): string => join(workDir, `${name}-${++dirs}`);
  const ref = (repository: string) => `docker://${server.host}/${repository}`;

  const skopeo = async (env: NodeJS.ProcessEnv, ...args: string[]) =>
    (await runOk('skopeo', args, { env, timeoutMs: toolTimeoutMs })).stdout;
  const buildah = async (env: NodeJS.ProcessEnv, ...args: string[]) =>
    (await runOk('buildah', args, { env, timeoutMs: toolTimeoutMs })).stdout.trim();
  const podman = async (env: NodeJS.ProcessEnv, ...args: string[]) =>
    (await runOk('podman', args, { env, timeoutMs: toolTimeoutMs })).stdout.trim();
  /** The registry's digest for a manifest reference, by HEAD. */
  const registryDigest = async (repository: string, reference: string): Promise<string> => {
    const res = await new RegistryClient(server.url, admin).request(
      'HEAD',
      `/v2/${repository}/manifests/${reference}`,
      {
        headers: {
          accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
        },
      },
    );
    assert.equal(res.status, 200, `HEAD ${repository}:${reference}`);
    return res.headers.get('docker-content-digest')!;
  };
  const ready = (t: TestContext) => requireTools(t, ...tools);

  test('skopeo login accepts the admin password and refuses a wrong one', async (t) => {
    if (!ready(t)) return;
    const env = freshEnv('login');
    const out = await skopeo(
      env,
      'login',
      '--tls-verify=false',
      '-u',
      'admin',
      '-p',
      adminPassword,
      server.host,
    );
    assert.match(out, /Login Succeeded/);
    assert.equal((await skopeo(env, 'login', '--get-login', server.host)).trim(), 'admin');
    const auth = JSON.parse(await readFile(env.REGISTRY_AUTH_FILE!, 'utf8')) as {
      auths: Record<string, { auth: string }>;
    };
    assert.equal(Buffer.from(auth.auths[server.host]!.auth, 'base64').toString(), adminCreds);
    // Later commands use the stored credentials: a push and an inspect without --creds.
    const { ociLayout } = await images();
    await skopeo(
      env,
      'copy',
      '--dest-tls-verify=false',
      `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
      ref('admin/login:v1'),
    );
    const raw = await skopeo(env, 'inspect', '--raw', '--tls-verify=false', ref('admin/login:v1'));
    assert.equal(sha256(raw), (await layoutEntry(ociLayout, TEST_IMAGE_TAG)).digest);

    const wrongEnv = freshEnv('login-wrong');
    const wrong = await run(
      'skopeo',
      ['login', '--tls-verify=false', '-u', 'admin', '-p', 'not-the-password', server.host],
      {
        env: wrongEnv,
        timeoutMs: toolTimeoutMs,
      },
    );
    assert.notEqual(wrong.code, 0, 'login with a wrong password must fail');
    assert.match(wrong.stderr, /invalid username\/password|unauthorized/i);
    const stored = JSON.parse(await readFile(wrongEnv.REGISTRY_AUTH_FILE!, 'utf8')) as {
      auths: Record<string, unknown>;
    };
    assert.equal(stored.auths[server.host], undefined, 'a failed login must not store credentials');
  });

  test('skopeo copy from an OCI layout into Slipway and back out is byte-identical', async (t) => {
    if (!ready(t)) return;
    const { env, ociLayout } = await images();
    const source = await layoutEntry(ociLayout, TEST_IMAGE_TAG);

    await skopeo(
      env,
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
      ref('admin/busybox:v1'),
    );

    const raw = await skopeo(
      env,
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      ref('admin/busybox:v1'),
    );
    assert.equal(sha256(raw), source.digest, 'the registry serves the manifest bytes as pushed');
    assert.equal(await registryDigest('admin/busybox', 'v1'), source.digest);
    assert.deepEqual(
      blobsOf(JSON.parse(raw) as ImageManifest),
      blobsOf(JSON.parse((await layoutBlob(ociLayout, source.digest)).toString()) as ImageManifest),
    );

    const out = newDir('copy-out');
    await skopeo(
      env,
      'copy',
      '--src-tls-verify=false',
      '--src-creds',
      adminCreds,
      ref('admin/busybox:v1'),
      `oci:${out}:back`,
    );
    const copied = await layoutEntry(out, 'back');
    assert.equal(copied.digest, source.digest);
    assert.equal(copied.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    await assertSameImage(ociLayout, out, source.digest);
  });

  test('buildah push, buildah pull by tag and digest, and buildah run on the pulled image', async (t) => {
    if (!ready(t)) return;
    const { env, imageName } = await images();
    const pushDir = newDir('buildah-push');
    await mkdir(pushDir);
    const digestFile = join(pushDir, 'digest');
    await buildah(
      env,
      'push',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      '--digestfile',
      digestFile,
      imageName,
      ref('admin/pushed:latest'),
    );
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await registryDigest('admin/pushed', 'latest'), pushed);

    const manifest = JSON.parse(
      await skopeo(
        env,
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        adminCreds,
        ref('admin/pushed:latest'),
      ),
    ) as ImageManifest;
    const configDigest = manifest.config.digest;
    const localId = await buildah(
      env,
      'inspect',
      '--type',
      'image',
      '--format',
      '{{.FromImageID}}',
      imageName,
    );
    assert.equal(`sha256:${localId}`, configDigest, 'the pushed config is the local image');

    // Pull into an empty storage, so every layer comes from Slipway.
    const pullEnv = freshEnv('buildah-pull');
    const byTag = await buildah(
      pullEnv,
      'pull',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      ref('admin/pushed:latest'),
    );
    assert.equal(`sha256:${byTag}`, configDigest);
    const byDigest = await buildah(
      pullEnv,
      'pull',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      ref(`admin/pushed@${pushed}`),
    );
    assert.equal(byDigest, byTag);
    const listed = await buildah(
      pullEnv,
      'images',
      '--digests',
      '--format',
      '{{.Name}}:{{.Tag}} {{.Digest}}',
    );
    assert.match(listed, new RegExp(`${server.host}/admin/pushed:latest\\s+${pushed}`));

    const container = await buildah(
      pullEnv,
      'from',
      '--quiet',
      '--pull=never',
      `${server.host}/admin/pushed:latest`,
    );
    try {
      // The image has only /bin/busybox and /bin/sh; its applets are called through busybox.
      const hello = await buildah(
        pullEnv,
        'run',
        '--isolation',
        'chroot',
        container,
        '--',
        '/bin/busybox',
        'cat',
        '/hello.txt',
      );
      assert.equal(hello, HELLO_TEXT);
      const release = await buildah(
        pullEnv,
        'run',
        '--isolation',
        'chroot',
        container,
        '--',
        '/bin/sh',
        '-c',
        'cat /etc/slipway-release',
      );
      assert.equal(`${release}\n`, RELEASE_TEXT);
    } finally {
      await run('buildah', ['rm', container], { env: pullEnv });
    }
  });

  test('podman pull and podman push', async (t) => {
    if (!ready(t)) return;
    const { env, ociLayout } = await images();
    const source = await layoutEntry(ociLayout, TEST_IMAGE_TAG);
    await skopeo(
      env,
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
      ref('admin/podman-src:v1'),
    );

    const podEnv = freshEnv('podman');
    const image = `${server.host}/admin/podman-src:v1`;
    await podman(podEnv, 'pull', '--quiet', '--tls-verify=false', '--creds', adminCreds, image);
    assert.equal(await podman(podEnv, 'image', 'inspect', '--format', '{{.Digest}}', image), source.digest);

    const target = `${server.host}/admin/podman-pushed:v2`;
    await podman(podEnv, 'tag', image, target);
    const digestFile = join(podEnv.TMPDIR!, 'push.digest');
    await podman(
      podEnv,
      'push',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      '--digestfile',
      digestFile,
      target,
    );
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    assert.equal(await registryDigest('admin/podman-pushed', 'v2'), pushed);
    const pushedManifest = JSON.parse(
      await skopeo(
        env,
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        adminCreds,
        ref('admin/podman-pushed:v2'),
      ),
    ) as ImageManifest;
    const sourceManifest = JSON.parse(
      (await layoutBlob(ociLayout, source.digest)).toString(),
    ) as ImageManifest;
    assert.equal(pushedManifest.config.digest, sourceManifest.config.digest, 'podman pushed the same image');
  });

  test('a two-platform index: skopeo copy --all in, inspect, and copy out per platform and whole', async (t) => {
    if (!ready(t)) return;
    const { env, indexLayout } = await images();
    const source = await layoutEntry(indexLayout, TEST_INDEX_TAG);
    const sourceIndex = JSON.parse((await layoutBlob(indexLayout, source.digest)).toString()) as ImageIndex;

    await skopeo(
      env,
      'copy',
      '--all',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `oci:${indexLayout}:${TEST_INDEX_TAG}`,
      ref('admin/multi:v1'),
    );

    const raw = await skopeo(
      env,
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      ref('admin/multi:v1'),
    );
    assert.equal(sha256(raw), source.digest);
    const index = JSON.parse(raw) as ImageIndex;
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort(), [
      'linux/amd64',
      'linux/arm64',
    ]);
    assert.equal(await registryDigest('admin/multi', 'v1'), source.digest);
    for (const m of index.manifests) assert.equal(await registryDigest('admin/multi', m.digest), m.digest);

    const arm64 = index.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const armOut = newDir('index-arm64');
    await skopeo(
      env,
      'copy',
      '--override-arch',
      'arm64',
      '--src-tls-verify=false',
      '--src-creds',
      adminCreds,
      ref('admin/multi:v1'),
      `oci:${armOut}:arm64`,
    );
    assert.equal((await layoutEntry(armOut, 'arm64')).digest, arm64.digest);
    await assertSameImage(indexLayout, armOut, arm64.digest);

    const allOut = newDir('index-all');
    await skopeo(
      env,
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--src-creds',
      adminCreds,
      ref('admin/multi:v1'),
      `oci:${allOut}:all`,
    );
    assert.equal((await layoutEntry(allOut, 'all')).digest, source.digest);
    assert.ok((await layoutBlob(allOut, source.digest)).equals(await layoutBlob(indexLayout, source.digest)));
    for (const m of sourceIndex.manifests) await assertSameImage(indexLayout, allOut, m.digest);
  });

  test('an artifact with a subject: OCI-Subject header and the referrers API', async (t) => {
    if (!ready(t)) return;
    const { env, ociLayout } = await images();
    const image = await layoutEntry(ociLayout, TEST_IMAGE_TAG);
    await skopeo(
      env,
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
      ref('admin/signed:v1'),
    );

    const client = new RegistryClient(server.url, admin);
    const empty = Buffer.from('{}');
    const emptyDigest = await client.pushBlob('admin/signed', empty);
    const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const artifact = async (artifactType: string, payload: string) => {
      const layer = Buffer.from(payload);
      const layerDigest = await client.pushBlob('admin/signed', layer);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: empty.length },
        layers: [{ mediaType: `${artifactType}+json`, digest: layerDigest, size: layer.length }],
        subject,
        annotations: { 'org.example.kind': artifactType },
      });
      const digest = sha256(manifest);
      const put = await client.pushManifest(
        'admin/signed',
        digest,
        manifest,
        'application/vnd.oci.image.manifest.v1+json',
      );
      assert.equal(put.status, 201, put.body.toString());
      assert.equal(put.headers.get('oci-subject'), image.digest);
      assert.equal(put.headers.get('docker-content-digest'), digest);
      return { digest, size: Buffer.byteLength(manifest) };
    };
    const signature = await artifact('application/vnd.example.signature.v1', '{"signed":true}');
    const sbom = await artifact('application/vnd.example.sbom.v1', '{"packages":["busybox"]}');

    const all = await client.request('GET', `/v2/admin/signed/referrers/${image.digest}`);
    assert.equal(all.status, 200, all.body.toString());
    assert.equal(all.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    const listed = all.json<ImageIndex>();
    assert.equal(listed.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      listed.manifests.map((m) => [m.digest, m.artifactType, m.size, m.mediaType]).sort(),
      [
        [
          signature.digest,
          'application/vnd.example.signature.v1',
          signature.size,
          'application/vnd.oci.image.manifest.v1+json',
        ],
        [
          sbom.digest,
          'application/vnd.example.sbom.v1',
          sbom.size,
          'application/vnd.oci.image.manifest.v1+json',
        ],
      ].sort(),
    );
    assert.equal(
      listed.manifests.find((m) => m.digest === sbom.digest)?.annotations?.['org.example.kind'],
      'application/vnd.example.sbom.v1',
    );

    const filtered = await client.request(
      'GET',
      `/v2/admin/signed/referrers/${image.digest}?artifactType=${encodeURIComponent('application/vnd.example.signature.v1')}`,
    );
    assert.equal(filtered.status, 200);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      filtered.json<ImageIndex>().manifests.map((m) => m.digest),
      [signature.digest],
    );

    // The artifact is a manifest like any other: a real client reads it back by digest.
    const raw = await skopeo(
      env,
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      adminCreds,
      ref(`admin/signed@${signature.digest}`),
    );
    assert.equal(sha256(raw), signature.digest);
  });

  test('pushing into an organization creates the repository for creators, never for members', async (t) => {
    if (!ready(t)) return;
    const { env, ociLayout } = await images();
    const source = await layoutEntry(ociLayout, TEST_IMAGE_TAG);
    const identity = server.services.identity;
    const owner = await identity.getUserByName('admin');
    await identity.createUser({ name: 'dev', password: 'dev-password-1' });
    await identity.createUser({ name: 'viewer', password: 'viewer-password-1' });
    await identity.createOrganization({ name: 'team', owner });
    await identity.setMember('team', 'dev', 'creator');
    await identity.setMember('team', 'viewer', 'member');

    await skopeo(
      env,
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      'dev:dev-password-1',
      `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
      ref('team/app:1'),
    );
    assert.equal(await registryDigest('team/app', '1'), source.digest);
    const repo = await server.services.repositories.find('team/app');
    assert.equal(repo?.visibility, 'private');
    // The creator can read back what it created.
    const raw = await skopeo(
      env,
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      'dev:dev-password-1',
      ref('team/app:1'),
    );
    assert.equal(sha256(raw), source.digest);

    // A plain member may neither create a repository nor push into one it was not granted.
    for (const target of ['team/other:1', 'team/app:2']) {
      const denied = await run(
        'skopeo',
        [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          'viewer:viewer-password-1',
          `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
          ref(target),
        ],
        { env, timeoutMs: toolTimeoutMs },
      );
      assert.notEqual(denied.code, 0, `member push to ${target} must fail`);
      assert.match(denied.stderr, /requested access to the resource is denied/, denied.stderr);
    }
    assert.equal(
      await server.services.repositories.find('team/other'),
      undefined,
      'a denied push creates nothing',
    );
    const tags = await new RegistryClient(server.url, admin).request('GET', '/v2/team/app/tags/list');
    assert.deepEqual(tags.json<{ tags: string[] }>().tags, ['1']);
  });
});
