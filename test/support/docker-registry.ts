// A real upstream registry for mirror and proxy-cache tests: Debian's `docker-registry`
// (distribution 2.8) on 127.0.0.1, with a temporary config and storage, optionally htpasswd auth.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestImages, TEST_IMAGE_TAG, TEST_INDEX_TAG, type TestImages } from './images.js';
import { freePort } from './process.js';
import { runOk } from './tools.js';

/** `htpasswd -Bbn upstream upstream-secret-1`: distribution only reads bcrypt entries. */
export const upstreamUser = { username: 'upstream', password: 'upstream-secret-1' };
const htpasswdEntry = 'upstream:$2y$05$cNT/UC5G9gtA08TmTtoTnepQzQB22F5I4UgkR8OUOJNQZ5WjW99ei';

export interface DockerRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  url: string;
  /** Stops the process; its storage stays until `remove`, so `start` again serves the same content. */
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

/** Starts `docker-registry serve` on a free port; with `auth`, every request needs `upstreamUser` (Basic). */
export async function startDockerRegistry(opts: { auth?: boolean } = {}): Promise<DockerRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-upstream-'));
  const port = await freePort();
  await mkdir(join(dir, 'storage'));
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (opts.auth) {
    await writeFile(join(dir, 'htpasswd'), `${htpasswdEntry}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: upstream', `    path: ${join(dir, 'htpasswd')}`);
  }
  await writeFile(join(dir, 'config.yml'), lines.join('\n') + '\n');

  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited early:\n${output}`);
      try {
        const res = await fetch(`${url}/v2/`);
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`docker-registry did not start:\n${output}`);
      await sleep(50);
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    host: `127.0.0.1:${port}`,
    url,
    start,
    stop,
    async remove() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `skopeo copy` of an image (with `all`, an index and every platform) into the registry as `repository:tag`. */
export async function pushToRegistry(
  registry: DockerRegistry,
  env: NodeJS.ProcessEnv,
  source: string,
  target: string,
  opts: { all?: boolean; auth?: boolean } = {},
): Promise<void> {
  await runOk(
    'skopeo',
    [
      'copy',
      ...(opts.all ? ['--all'] : []),
      '--dest-tls-verify=false',
      ...(opts.auth ? ['--dest-creds', `${upstreamUser.username}:${upstreamUser.password}`] : []),
      source,
      `docker://${registry.host}/${target}`,
    ],
    { env, timeoutMs: 60_000 },
  );
}

/** The digest an OCI layout's index.json gives `tag`. */
export async function layoutDigest(layout: string, tag: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`no ${tag} in ${layout}`);
  return entry.digest;
}

/** A JSON document (manifest, index, config) stored as a blob of an OCI layout. */
export async function layoutJson<T>(layout: string, digest: string): Promise<T> {
  const [algorithm, hex] = digest.split(':');
  return JSON.parse(await readFile(join(layout, 'blobs', algorithm!, hex!), 'utf8')) as T;
}

export interface SeededUpstream {
  registry: DockerRegistry;
  images: TestImages;
  /** Digest of the single-platform test image (every one of `imageTags`). */
  imageDigest: string;
  /** Digest of the test index (tag multi) and the index itself. */
  indexDigest: string;
  index: { manifests: Array<{ digest: string; platform?: { architecture: string } }> };
}

/**
 * Builds the test images under `workDir` and starts an upstream with auth holding them as
 * `repository:<tag>` for each of `imageTags` (the image) and `repository:multi` (the index).
 */
export async function seedUpstream(
  workDir: string,
  repository: string,
  imageTags: string[],
): Promise<SeededUpstream> {
  const images = await buildTestImages(join(workDir, 'images'));
  const registry = await startDockerRegistry({ auth: true });
  const push = (source: string, tag: string, all = false) =>
    pushToRegistry(registry, images.env, source, `${repository}:${tag}`, { all, auth: true });
  for (const tag of imageTags) await push(`oci:${images.ociLayout}:${TEST_IMAGE_TAG}`, tag);
  await push(`oci:${images.indexLayout}:${TEST_INDEX_TAG}`, 'multi', true);
  const indexDigest = await layoutDigest(images.indexLayout, TEST_INDEX_TAG);
  return {
    registry,
    images,
    imageDigest: await layoutDigest(images.ociLayout, TEST_IMAGE_TAG),
    indexDigest,
    index: await layoutJson<SeededUpstream['index']>(images.indexLayout, indexDigest),
  };
}
