/**
 * How image steps reach registries: which credentials go into buildah's auth file, and when TLS
 * verification is off.
 *
 * Slipway's own registry: no password. A step gets a registry token issued to the run's actor
 * (`StepContext.actor`) for exactly the repositories it needs and only the actions the policy allows the
 * actor there, living as long as the step may. The auth file presents it as the password of `$token`;
 * `/v2/auth` exchanges it for tokens that grant no more than it does (see the OCI face's token route).
 *
 * Other registries: a credential stored for the pipeline's namespace, named by the step or found by host,
 * from a `RegistryCredentialStore`.
 *
 * TLS: a registry on a loopback address is reached over plain HTTP (`--tls-verify=false`), as Slipway's
 * own registry is in the embedded default; every other one with TLS verification.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  registryTokenUsername,
  type AccessEntry,
  type Policy,
  type RegistryAction,
  type RegistryTokens,
  type Subject,
} from '../../identity/index.js';
import { validateRepositoryName, type RepositoriesService } from '../../registry/index.js';
import type { RegistryCredentials } from '../executor.js';
import type { StepOutcome } from '../states.js';
import type { RegistryRef } from '../model.js';

/**
 * Registry credentials stored for pipelines, sealed at rest (SecretBox) and opened only by `lookup`.
 * The stored, per-namespace implementation belongs to the runs context; `staticRegistryCredentials`
 * serves tests and `slipway run`.
 */
export interface RegistryCredentialStore {
  /**
   * The credential of `namespace` named `name`, or without a name the one stored for `host`;
   * undefined when there is none.
   */
  lookup(namespace: string, host: string, name?: string): Promise<RegistryCredentials | undefined>;
}

export interface StaticCredential extends RegistryCredentials {
  host: string;
  /** Absent: every namespace may use it. */
  namespace?: string;
  name?: string;
}

export function staticRegistryCredentials(entries: readonly StaticCredential[]): RegistryCredentialStore {
  return {
    lookup(namespace, host, name) {
      const found = entries.find(
        (e) =>
          (e.namespace === undefined || e.namespace === namespace) &&
          (name !== undefined ? e.name === name : e.host === host),
      );
      return Promise.resolve(found && { username: found.username, password: found.password });
    },
  };
}

/** A registry an image step talks to and the repository it addresses there. */
export interface RegistryTarget {
  kind: 'slipway' | 'external';
  /** host[:port] as buildah reaches it. */
  host: string;
  /** Fully qualified inside the registry: a one-segment Slipway repository gets the pipeline's namespace. */
  repository: string;
  /** External only: the stored credential named by the step. */
  credentials?: string;
}

/** Where `repository` (already expanded) of `registry` is. Throws StepProblem for a bad name. */
export function registryTarget(
  registry: RegistryRef,
  repository: string,
  ctx: { registryHost: string; pipeline: { namespace: string } },
): RegistryTarget {
  if (registry.kind === 'slipway') {
    if (ctx.registryHost === '') {
      throw new StepProblem('error', 'this server does not know the address of its own registry');
    }
    const qualified = repository.includes('/') ? repository : `${ctx.pipeline.namespace}/${repository}`;
    checkRepository(qualified);
    return { kind: 'slipway', host: ctx.registryHost, repository: qualified };
  }
  checkRepository(repository);
  return {
    kind: 'external',
    host: registry.host,
    repository,
    ...(registry.credentials !== undefined ? { credentials: registry.credentials } : {}),
  };
}

function checkRepository(name: string): void {
  try {
    validateRepositoryName(name);
  } catch {
    throw new StepProblem('failed', `invalid repository name: ${JSON.stringify(name)}`);
  }
}

/**
 * Why a step ends before or without buildah saying so: `failed` is the pipeline's fault, `error` Slipway's;
 * `cancelled` and `timed_out` stop it between two commands.
 */
export class StepProblem extends Error {
  constructor(
    readonly outcome: Exclude<StepOutcome, 'success'>,
    message: string,
  ) {
    super(message);
  }
}

/** True for `localhost`, `127.x.y.z` and `::1`, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  let name = host;
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']'));
  else if ((name.match(/:/g) ?? []).length === 1) name = name.slice(0, name.indexOf(':'));
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return isIP(name) === 6 && (name === '::1' || name === '0:0:0:0:0:0:0:1');
}

/**
 * The text of a registries.conf for one buildah call: the configuration buildah would read (from
 * `CONTAINERS_REGISTRIES_CONF`, else `$HOME/.config/containers/registries.conf`, else
 * /etc/containers/registries.conf) plus an `insecure = true` entry for each of `hosts` it does not configure
 * already, so that those are reached over plain HTTP while every other registry keeps TLS verification.
 * `configured` when it names every host already; `unsupported` when it cannot be extended safely (the
 * version 1 format, or `registry` written as an inline array).
 */
export async function registriesConfWithInsecure(
  env: NodeJS.ProcessEnv,
  hosts: readonly string[],
): Promise<{ kind: 'extended'; text: string } | { kind: 'configured' | 'unsupported' }> {
  const candidates = [
    env.CONTAINERS_REGISTRIES_CONF,
    env.HOME ? join(env.HOME, '.config', 'containers', 'registries.conf') : undefined,
    '/etc/containers/registries.conf',
  ];
  let base = '';
  for (const file of candidates) {
    if (!file) continue;
    try {
      base = await readFile(file, 'utf8');
      break;
    } catch {
      // An explicitly named file that is missing is an error for buildah too: leave it to say so.
      if (file === env.CONTAINERS_REGISTRIES_CONF) return { kind: 'unsupported' };
    }
  }
  if (/^\s*\[\s*registries\s*\./m.test(base) || /^\s*registry\s*=/m.test(base)) {
    return { kind: 'unsupported' };
  }
  const missing = hosts.filter((host) => !base.includes(`"${host}"`) && !base.includes(`'${host}'`));
  if (missing.length === 0) return { kind: 'configured' };
  const entries = missing.map(
    (host) => `[[registry]]\nlocation = ${JSON.stringify(host)}\ninsecure = true\n`,
  );
  return {
    kind: 'extended',
    text: `${base}${base === '' || base.endsWith('\n') ? '' : '\n'}\n${entries.join('\n')}`,
  };
}

export interface AccessNeed {
  repository: string;
  actions: RegistryAction[];
  /** When set, the step cannot go on without these actions (a push); other needs are best effort (base images). */
  required?: RegistryAction[];
}

export interface AuthFileDeps {
  tokens: RegistryTokens;
  policy: Policy;
  repositories: RepositoriesService;
  credentials?: RegistryCredentialStore;
}

/** What a step asks of registries: a token for Slipway's own, stored credentials for the others. */
export interface RegistryLoginRequest {
  actor: Subject;
  namespace: string;
  registryHost: string;
  slipwayNeeds: AccessNeed[];
  external: { host: string; credentials?: string }[];
  /** Lifetime of the run token. */
  ttlSeconds: number;
}

/**
 * The logins a step needs, by registry host: Slipway's own with a token for `slipwayNeeds`, and each external
 * host with its stored credential (or none). Throws StepProblem when the actor may not do a required action or
 * a named credential does not exist.
 */
export async function registryLogins(
  deps: AuthFileDeps,
  request: RegistryLoginRequest,
): Promise<Map<string, RegistryCredentials>> {
  const logins = new Map<string, RegistryCredentials>();
  if (request.slipwayNeeds.length > 0) {
    const access: AccessEntry[] = [];
    for (const need of mergeNeeds(request.slipwayNeeds)) {
      const allowed = await deps.policy.registryActions(
        request.actor,
        await deps.repositories.target(need.repository),
      );
      const missing = (need.required ?? []).filter((a) => !allowed.has(a));
      if (missing.length > 0) {
        const who = request.actor.kind === 'anonymous' ? 'an anonymous run' : request.actor.name;
        throw new StepProblem('failed', `${who} may not ${missing.join(' or ')} ${need.repository}`);
      }
      const actions = need.actions.filter((a) => allowed.has(a));
      if (actions.length > 0) access.push({ type: 'repository', name: need.repository, actions });
    }
    const { token } = await deps.tokens.issue(request.actor, access, { ttlSeconds: request.ttlSeconds });
    logins.set(request.registryHost, { username: registryTokenUsername, password: token });
  }
  for (const { host, credentials } of request.external) {
    if (logins.has(host)) continue;
    const found = await deps.credentials?.lookup(request.namespace, host, credentials);
    if (found === undefined && credentials !== undefined) {
      throw new StepProblem('failed', `no stored registry credential named ${JSON.stringify(credentials)}`);
    }
    if (found !== undefined) logins.set(host, { username: found.username, password: found.password });
  }
  return logins;
}

/** The `registryLogins` as the text of a containers auth.json. */
export async function authFileFor(deps: AuthFileDeps, request: RegistryLoginRequest): Promise<string> {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, login] of await registryLogins(deps, request)) {
    auths[host] = { auth: basic(login.username, login.password) };
  }
  return `${JSON.stringify({ auths })}\n`;
}

function mergeNeeds(needs: AccessNeed[]): AccessNeed[] {
  const merged = new Map<string, AccessNeed>();
  for (const need of needs) {
    const seen = merged.get(need.repository);
    merged.set(need.repository, {
      repository: need.repository,
      actions: [...new Set([...(seen?.actions ?? []), ...need.actions])],
      required: [...new Set([...(seen?.required ?? []), ...(need.required ?? [])])],
    });
  }
  return [...merged.values()];
}

const basic = (username: string, password: string): string =>
  Buffer.from(`${username}:${password}`).toString('base64');

/** A run token lives as long as its step may (plus a minute), at most a day. */
export function tokenLifetimeSeconds(timeoutMs: number): number {
  const day = 24 * 3600;
  return Number.isFinite(timeoutMs) ? Math.min(day, Math.ceil(timeoutMs / 1000) + 60) : day;
}
