// Helpers for tests that drive external tools (buildah, skopeo, podman, docker-registry, ...).
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, which is then closed. Without it stdin is closed at once. */
  input?: string;
  /** Kill the child (SIGKILL) after this many milliseconds. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; 128 + signal number when the child was killed by a signal. */
  code: number;
}

/** Resolves a command name against PATH the way execvp would; undefined when not found. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = name.includes('/')
    ? [resolve(name)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '' && isAbsolute(dir))
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here (or not executable): keep looking
    }
  }
  return undefined;
}

/**
 * Returns true when every tool is on PATH. Otherwise, locally, the test is skipped and false is
 * returned; in CI (CI=true) it throws, because .ci/run installs the tools and a silent skip there
 * would hide a broken setup.
 */
export function requireTools(t: TestContext, ...names: string[]): boolean {
  const missing = names.filter((name) => findOnPath(name) === undefined);
  if (missing.length === 0) return true;
  const message = `missing tool: ${missing.join(', ')}`;
  if (process.env.CI === 'true') {
    throw new Error(`${message} (CI must not skip; install it in .ci/run)`);
  }
  t.skip(message);
  return false;
}

/** Spawns cmd without a shell and collects its output. Rejects only if it cannot be started. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A child that exits without reading its input would otherwise raise EPIPE here.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);

    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code: code ?? 128 + (signal ? osConstants.signals[signal] : 0),
      });
    });
  });
}

/** Like run, but throws (with the command line and its stderr) on a non-zero exit code. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, opts);
  if (result.code !== 0) {
    const output = result.stderr.trim() || result.stdout.trim();
    throw new Error(`${[cmd, ...args].join(' ')} exited with code ${result.code}:\n${output}`);
  }
  return result;
}

export interface ContainersEnvOptions {
  /** host[:port] entries that buildah/podman/skopeo may reach over plain HTTP without --tls-verify=false. */
  insecureRegistries?: string[];
}

// TOML basic strings accept JSON string escapes, so JSON.stringify quotes paths safely.
const toml = (value: string): string => JSON.stringify(value);

/**
 * Returns process.env plus overrides that confine buildah, podman and skopeo state to `dir`
 * (created if needed), so tests never touch /var/lib/containers, /etc/containers or each other.
 * All config files live in dir/home/.config/containers, where the tools look for per-user
 * config, because not every tool here honours every env var:
 *
 * - CONTAINERS_STORAGE_CONF: vfs driver (works without overlay/fuse), graphroot and runroot in dir.
 * - registries.conf: no search registries, so a short name never resolves to a network
 *   registry; short-name-mode=permissive so nothing prompts; opts.insecureRegistries are
 *   reachable over plain HTTP. buildah and podman take it from CONTAINERS_REGISTRIES_CONF, but
 *   skopeo 1.9 ignores that variable and reads $HOME/.config/containers/registries.conf.
 *   (With the variable set, buildah and podman still read the short-name aliases in
 *   /etc/containers/registries.conf.d; harmless, aliases only name network registries.)
 * - policy.json (accept anything): no tool has an env var for it, but all three, even as root,
 *   read $HOME/.config/containers/policy.json before /etc/containers/policy.json.
 * - registries.d (empty): keeps /etc/containers/registries.d signature-storage config out.
 * - CONTAINERS_CONF: replaces /usr/share and /etc containers.conf entirely; cgroupfs, file
 *   events logger and podman's tmp dir (events.log, locks; otherwise /run/libpod) in dir.
 * - REGISTRY_AUTH_FILE: podman login/push/pull fail with "stat ...: no such file" when the
 *   file it names is missing, so an empty one is created.
 * - BUILDAH_ISOLATION=chroot and STORAGE_DRIVER=vfs: no container runtime works here.
 * - XDG_RUNTIME_DIR / TMPDIR: runtime files and big temporary blobs stay in dir too.
 *
 * Not isolated: containers/image keeps a blob-info cache at
 * /var/lib/containers/cache/blob-info-cache-v1.boltdb when run as root (no env var or flag
 * moves it). It only holds hints that are verified before use, so sharing it is safe.
 */
export function containersEnv(dir: string, opts: ContainersEnvOptions = {}): NodeJS.ProcessEnv {
  const root = resolve(dir);
  const p = (...parts: string[]): string => join(root, ...parts);
  const config = (name: string): string => p('home', '.config', 'containers', name);
  for (const sub of ['storage', 'run', 'tmp', 'xdg-runtime', 'libpod', 'networks']) {
    mkdirSync(p(sub), { recursive: true, mode: 0o700 });
  }
  mkdirSync(config('registries.d'), { recursive: true, mode: 0o700 });

  writeFileSync(
    config('storage.conf'),
    [
      '[storage]',
      'driver = "vfs"',
      `graphroot = ${toml(p('storage'))}`,
      `runroot = ${toml(p('run'))}`,
      '',
    ].join('\n'),
  );

  const registries = ['unqualified-search-registries = []', 'short-name-mode = "permissive"', ''];
  for (const location of opts.insecureRegistries ?? []) {
    registries.push('[[registry]]', `location = ${toml(location)}`, 'insecure = true', '');
  }
  writeFileSync(config('registries.conf'), registries.join('\n'));

  writeFileSync(
    config('containers.conf'),
    [
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(p('libpod', 'events.log'))}`,
      `tmp_dir = ${toml(p('libpod'))}`,
      `volume_path = ${toml(p('storage', 'volumes'))}`,
      '[network]',
      `network_config_dir = ${toml(p('networks'))}`,
      '',
    ].join('\n'),
  );

  writeFileSync(
    config('policy.json'),
    `${JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] })}\n`,
  );

  // Keep credentials from an earlier login in the same dir: create the file only if absent.
  try {
    writeFileSync(p('auth.json'), '{"auths":{}}\n', { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: p('home'),
    XDG_CONFIG_HOME: p('home/.config'),
    XDG_DATA_HOME: p('home/.local/share'),
    XDG_RUNTIME_DIR: p('xdg-runtime'),
    TMPDIR: p('tmp'),
    CONTAINERS_STORAGE_CONF: config('storage.conf'),
    CONTAINERS_REGISTRIES_CONF: config('registries.conf'),
    CONTAINERS_CONF: config('containers.conf'),
    REGISTRY_AUTH_FILE: p('auth.json'),
    BUILDAH_ISOLATION: 'chroot',
    STORAGE_DRIVER: 'vfs',
  };
  // Options for another driver (overlay mount_program, ...) would break vfs; a podman
  // remote connection would send commands to a service outside dir.
  for (const name of ['STORAGE_OPTS', 'CONTAINER_HOST', 'CONTAINER_CONNECTION', 'DOCKER_HOST']) {
    delete env[name];
  }
  return env;
}

/**
 * The accept-anything policy containersEnv(dir) writes, for an explicit `skopeo --policy` or
 * `buildah/podman --signature-policy` (not needed with the env, which makes the tools find it).
 */
export function policyPath(dir: string): string {
  return join(resolve(dir), 'home', '.config', 'containers', 'policy.json');
}
