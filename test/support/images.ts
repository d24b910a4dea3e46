// Builds small, real OCI images for registry tests with buildah (no network, no container runtime).
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containersEnv, findOnPath, runOk } from './tools.js';

export interface TestImages {
  /** Env from containersEnv() for the storage the images live in; pass it to buildah/podman/skopeo. */
  env: NodeJS.ProcessEnv;
  /** OCI layout dir with the linux/amd64 image (3 layers) tagged TEST_IMAGE_TAG ("v1"). */
  ociLayout: string;
  /** OCI layout dir with an OCI index of linux/amd64 + linux/arm64, tagged TEST_INDEX_TAG ("multi"). */
  indexLayout: string;
  /** The amd64 image in local buildah storage, e.g. for `buildah push <imageName> docker://...`. */
  imageName: string;
  /** The arm64 image in local buildah storage (same layers as imageName, different config). */
  arm64ImageName: string;
  /** The manifest list in local buildah storage, for `buildah manifest push --all <listName> ...`. */
  listName: string;
}

export const TEST_IMAGE_TAG = 'v1';
export const TEST_INDEX_TAG = 'multi';
/** Content of /hello.txt (layer 2). */
export const HELLO_TEXT = 'hello from slipway';
/** Content of /etc/slipway-release (layer 3). */
export const RELEASE_TEXT = 'slipway test image\n';

const REPO = 'localhost/slipway-test/busybox';
const ARCHES = ['amd64', 'arm64'] as const;

// One build per workDir per process; the marker file makes it one build per workDir overall.
const builds = new Map<string, Promise<TestImages>>();

/**
 * Builds (once per workDir) a busybox image from scratch with 3 layers for linux/amd64 and
 * linux/arm64, and exports it as OCI layouts. Both platforms share byte-identical layers (same
 * files, --timestamp 0) and differ only in their config, as real multi-arch images share blobs.
 * The build is reproducible: the same busybox binary gives the same digests on every run.
 * Safe to call concurrently from several test processes with the same workDir.
 */
export async function buildTestImages(workDir: string): Promise<TestImages> {
  const dir = resolve(workDir);
  let build = builds.get(dir);
  if (build === undefined) {
    build = buildOnce(dir);
    builds.set(dir, build);
    // A failed build may be retried by a later call.
    build.catch(() => builds.delete(dir));
  }
  return build;
}

function layout(dir: string): Omit<TestImages, 'env'> & { marker: string; containersDir: string } {
  return {
    marker: join(dir, 'images.done'),
    containersDir: join(dir, 'containers'),
    ociLayout: join(dir, 'oci-single'),
    indexLayout: join(dir, 'oci-index'),
    imageName: `${REPO}:amd64`,
    arm64ImageName: `${REPO}:arm64`,
    listName: 'localhost/slipway-test/busybox-list:latest',
  };
}

async function buildOnce(dir: string): Promise<TestImages> {
  const { marker, containersDir, ...paths } = layout(dir);
  const result = (): TestImages => ({ env: containersEnv(containersDir), ...paths });
  if (existsSync(marker)) return result();

  await mkdir(dir, { recursive: true });
  const release = await acquireLock(join(dir, 'images.lock'), marker);
  try {
    if (existsSync(marker)) return result(); // another process built it while we waited
    // Leftovers of an interrupted build (half-made images, an existing manifest list) would
    // make buildah fail, so start from empty storage and layouts.
    for (const path of [containersDir, paths.ociLayout, paths.indexLayout, join(dir, 'context')]) {
      await rm(path, { recursive: true, force: true });
    }
    const images = result();
    await build(dir, images);
    await writeFile(marker, `${JSON.stringify(paths, null, 2)}\n`);
    return images;
  } finally {
    await release();
  }
}

async function build(dir: string, images: TestImages): Promise<void> {
  const buildah = async (...args: string[]): Promise<string> =>
    (await runOk('buildah', args, { env: images.env })).stdout.trim();

  // The image has no libc, so it needs Debian's statically linked busybox (busybox-static).
  const busybox = findOnPath('busybox') ?? '/bin/busybox';
  const context = join(dir, 'context');
  await mkdir(join(context, 'rootfs', 'bin'), { recursive: true });
  await copyFile(busybox, join(context, 'rootfs', 'bin', 'busybox'));
  await symlink('busybox', join(context, 'rootfs', 'bin', 'sh'));
  await writeFile(join(context, 'hello.txt'), HELLO_TEXT);
  await writeFile(join(context, 'slipway-release'), RELEASE_TEXT);

  // Each entry becomes one layer: a new working container from the previous image, one copy, one
  // commit (committing the same container twice would squash its changes into one layer).
  // `buildah build --layers --platform a,b` would be one call, but buildah 1.28's layer cache
  // ignores the platform and returns the arm64 image for both.
  const layers: Array<[src: string, dest: string]> = [
    [join(context, 'rootfs') + '/', '/'],
    [join(context, 'hello.txt'), '/hello.txt'],
    [join(context, 'slipway-release'), '/etc/slipway-release'],
  ];

  for (const arch of ARCHES) {
    let from = 'scratch';
    for (const [index, [src, dest]] of layers.entries()) {
      const last = index === layers.length - 1;
      // --arch only silences buildah's "platform does not match" warning for the arm64 base.
      const container = await buildah('from', '--quiet', '--pull=never', '--arch', arch, from);
      await buildah('copy', '--quiet', container, src, dest);
      if (index === 0) {
        await buildah('config', '--os', 'linux', '--arch', arch, '--cmd', '["/bin/sh"]', container);
      }
      const name = last ? `${REPO}:${arch}` : `${REPO}-layer${index + 1}:${arch}`;
      // --timestamp 0 fixes file mtimes and "created", so layers are identical across arches
      // and runs; --identity-label=false keeps the buildah version out of the config.
      await buildah(
        'commit',
        '--quiet',
        '--rm',
        '--identity-label=false',
        '--timestamp',
        '0',
        container,
        name,
      );
      from = name;
    }
  }

  await buildah('push', '--quiet', images.imageName, `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`);

  await buildah('manifest', 'create', images.listName);
  for (const name of [images.imageName, images.arm64ImageName]) {
    await buildah('manifest', 'add', images.listName, `containers-storage:${name}`);
  }
  await buildah(
    'manifest',
    'push',
    '--quiet',
    '--all',
    '--format',
    'oci',
    images.listName,
    `oci:${images.indexLayout}:${TEST_INDEX_TAG}`,
  );
}

/**
 * A cross-process lock: mkdir is atomic. A lock left by a dead process is taken over. Gives up
 * waiting when `done` appears (the holder finished) or after two minutes.
 */
async function acquireLock(lockDir: string, done: string): Promise<() => Promise<void>> {
  const pidFile = join(lockDir, 'pid');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(pidFile, String(process.pid));
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (existsSync(done)) return async () => {};
    const holder = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    if (holder > 0 && !isAlive(holder)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
    await sleep(100);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
