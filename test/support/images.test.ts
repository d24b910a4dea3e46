import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTestImages, HELLO_TEXT, TEST_IMAGE_TAG, TEST_INDEX_TAG } from './images.js';
import { requireTools, runOk } from './tools.js';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}
interface Manifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface Index {
  mediaType?: string;
  manifests: Descriptor[];
}

// skopeo cannot address a child manifest of an oci: layout by digest, so read blobs directly.
async function readBlob<T>(layoutDir: string, digest: string): Promise<T> {
  const [algorithm, hex] = digest.split(':');
  assert.ok(algorithm && hex, `bad digest ${digest}`);
  return JSON.parse(await readFile(join(layoutDir, 'blobs', algorithm, hex), 'utf8')) as T;
}

test('buildTestImages builds a 3-layer image and a 2-platform index', async (t) => {
  if (!requireTools(t, 'buildah', 'skopeo', 'busybox')) return;
  const workDir = await mkdtemp(join(tmpdir(), 'slipway-images-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));

  const images = await buildTestImages(workDir);
  const skopeo = async (...args: string[]): Promise<string> =>
    (await runOk('skopeo', args, { env: images.env })).stdout;

  const manifest = JSON.parse(
    await skopeo('inspect', '--raw', `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`),
  ) as Manifest;
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.ok(manifest.layers.length >= 3, `expected >= 3 layers, got ${manifest.layers.length}`);
  assert.equal(
    new Set(manifest.layers.map((l) => l.digest)).size,
    manifest.layers.length,
    'layers must differ',
  );

  const index = JSON.parse(
    await skopeo('inspect', '--raw', `oci:${images.indexLayout}:${TEST_INDEX_TAG}`),
  ) as Index;
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(index.manifests.length, 2);
  assert.deepEqual(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort(), [
    'linux/amd64',
    'linux/arm64',
  ]);

  // The platforms share layers but have their own configs, so their manifest digests differ.
  const [first, second] = await Promise.all(
    index.manifests.map((m) => readBlob<Manifest>(images.indexLayout, m.digest)),
  );
  assert.ok(first && second);
  assert.notEqual(index.manifests[0]?.digest, index.manifests[1]?.digest);
  assert.notEqual(first.config.digest, second.config.digest);
  assert.deepEqual(
    first.layers.map((l) => l.digest),
    second.layers.map((l) => l.digest),
  );
  for (const m of index.manifests) {
    const manifestOfPlatform = await readBlob<Manifest>(images.indexLayout, m.digest);
    const config = await readBlob<{ architecture: string; os: string }>(
      images.indexLayout,
      manifestOfPlatform.config.digest,
    );
    assert.equal(config.architecture, m.platform?.architecture);
    assert.equal(config.os, 'linux');
  }

  // The amd64 image in the single-arch layout is the one in the index.
  const amd64 = index.manifests.find((m) => m.platform?.architecture === 'amd64');
  const single = JSON.parse(await readFile(join(images.ociLayout, 'index.json'), 'utf8')) as Index;
  assert.equal(single.manifests[0]?.digest, amd64?.digest);

  // Layer 2 holds /hello.txt.
  const layer2 = manifest.layers[1];
  assert.ok(layer2);
  const listing = await runOk('tar', [
    '-xzOf',
    join(images.ociLayout, 'blobs', 'sha256', layer2.digest.slice(7)),
    'hello.txt',
  ]);
  assert.equal(listing.stdout, HELLO_TEXT);

  // imageName is usable by buildah with the returned env.
  const inspected = JSON.parse(
    (await runOk('buildah', ['inspect', '--type', 'image', images.imageName], { env: images.env })).stdout,
  ) as { OCIv1: { architecture: string } };
  assert.equal(inspected.OCIv1.architecture, 'amd64');

  // A second call is served from the cache (same process) ...
  const started = Date.now();
  assert.deepEqual(await buildTestImages(workDir), images);
  assert.ok(Date.now() - started < 1000);
});

test('buildTestImages reuses a build made by another process', async (t) => {
  if (!requireTools(t, 'buildah', 'skopeo', 'busybox')) return;
  const workDir = await mkdtemp(join(tmpdir(), 'slipway-images-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));

  // Two processes race for the same workDir; both must succeed with one build.
  const script = `import { buildTestImages } from ${JSON.stringify(new URL('./images.ts', import.meta.url).href)};
    const r = await buildTestImages(${JSON.stringify(workDir)}); console.log(r.ociLayout);`;
  const child = (): Promise<{ stdout: string }> =>
    runOk(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  const [a, b] = await Promise.all([child(), child()]);
  assert.equal(a.stdout, b.stdout);

  const started = Date.now();
  const images = await buildTestImages(workDir);
  assert.ok(Date.now() - started < 2000, 'expected the marker to short-circuit the build');
  assert.equal(`${images.ociLayout}\n`, a.stdout);
});
