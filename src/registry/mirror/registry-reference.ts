import { isIP } from 'node:net';
import { Invalid } from '../../platform/errors.js';
import { validateRepositoryName } from '../names.js';

/** A registry location without scheme: `registry[:port]` and, for a repository, `/path/of/repo`. */
export interface RegistryReference {
  /** `host[:port]` as written (IPv6 in brackets). */
  authority: string;
  /** The host alone, without brackets. */
  hostname: string;
  /** Repository path at the registry; empty when only a registry (or registry/namespace prefix) was given. */
  path: string;
}

/** Decides whether an address may be connected to (the platform's outbound policy). */
export interface AddressPolicy {
  allowsAddress(address: string): boolean;
}

const hostnamePattern =
  /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * Parses a scheme-less registry reference as Quay validates mirror sources
 * (util/security/ssrf.py `validate_external_registry_reference`), with its messages.
 * `requirePath`: a mirror needs `registry/namespace/repo`; a proxy cache upstream may be a bare registry.
 */
export function parseRegistryReference(
  value: string,
  field: string,
  requirePath: boolean,
): RegistryReference {
  const fail = (message: string) => new Invalid('INVALID_REGISTRY_REFERENCE', message, { field });
  const what = requirePath ? 'External registry reference' : 'Upstream registry';
  if (!value.trim()) throw fail(`${what} is required`);
  if (/\s/.test(value)) throw fail(`${what} must not include whitespace`);
  if (value.includes('://')) throw fail(`${what} must not include a URL scheme`);
  if (/[?#\\%@]/.test(value)) throw fail(`${what} contains an invalid character`);
  const slash = value.indexOf('/');
  const authority = slash < 0 ? value : value.slice(0, slash);
  const path = slash < 0 ? '' : value.slice(slash + 1).replace(/\/+$/, '');
  if (requirePath && !path) throw fail(`${what} must include a repository path`);

  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(authority);
  const hostname = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? undefined : Number(match[3]);
  if (!hostname) throw fail(`${what} contains an invalid registry authority`);
  if (port !== undefined && (port < 1 || port > 65535))
    throw fail(`${what} contains an invalid registry port`);
  if (match?.[1] !== undefined ? isIP(hostname) !== 6 : !isIP(hostname) && !hostnamePattern.test(hostname))
    throw fail(`${what} must include a valid registry hostname`);
  if (path) {
    try {
      validateRepositoryName(path);
    } catch {
      throw fail(`${what} has an invalid repository path`);
    }
  }
  return { authority, hostname, path };
}

/**
 * Refuses, when the reference is written, a registry at a literal internal address (or `localhost`)
 * that the outbound allow list does not open; names are judged again on every connection.
 */
export function assertRegistryAllowed(ref: RegistryReference, policy: AddressPolicy, field: string): void {
  const host =
    ref.hostname === 'localhost' || ref.hostname.endsWith('.localhost') ? '127.0.0.1' : ref.hostname;
  if (isIP(host) && !policy.allowsAddress(host))
    throw new Invalid('REGISTRY_NOT_ALLOWED', 'The provided registry location is not allowed', { field });
}
