/**
 * Which git URLs Slipway may clone from: every clone URL is checked against the outbound policy, the same one
 * that guards webhooks, so a pipeline cannot make Slipway read from inside its own network.
 *
 * - `http(s)://`: every address the host resolves to (`OutboundPolicy.checkHost`).
 * - `ssh://`, `git://` and scp-like `[user@]host:path`: every address the host resolves to.
 * - `file://` and plain local paths: they read this machine, so they are judged as a loopback address
 *   (127.0.0.1): allowed only when the policy allows 127.0.0.1 (SLIPWAY_OUTBOUND_ALLOW=127.0.0.1/32).
 * - anything else (`ext::`, `fd::`, other remote helpers): refused.
 */
import { Invalid } from '../../platform/errors.js';
import type { OutboundPolicy } from '../../platform/outbound.js';

export type CloneTransport = 'http' | 'ssh' | 'git' | 'local';

export interface CloneUrl {
  transport: CloneTransport;
  /** The host as written (brackets kept off); absent for local URLs. */
  host?: string;
  /** http(s) only: `scheme://host[:port]/`, to which HTTP credentials are confined. */
  origin?: string;
}

/** What kind of URL `url` is; Invalid for URLs that name no transport Slipway clones with. */
export function parseCloneUrl(url: string): CloneUrl {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === 'file') return { transport: 'local' };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Invalid('INVALID_CLONE_URL', 'not a valid URL');
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (host === '') throw new Invalid('INVALID_CLONE_URL', 'the URL names no host');
    if (scheme === 'http' || scheme === 'https') {
      return { transport: 'http', host, origin: `${parsed.protocol}//${parsed.host}/` };
    }
    if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') return { transport: 'ssh', host };
    if (scheme === 'git') return { transport: 'git', host };
    throw new Invalid('INVALID_CLONE_URL', `git over ${scheme}:// is not supported`);
  }
  if (url.includes('::'))
    throw new Invalid('INVALID_CLONE_URL', 'git remote helpers (<transport>::) are not supported');
  // git reads `host:path` as scp-like ssh when the colon comes before any slash.
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  if (colon > 0 && (slash === -1 || colon < slash)) {
    const userHost = url.slice(0, colon);
    const host = userHost.slice(userHost.lastIndexOf('@') + 1).replace(/^\[|\]$/g, '');
    if (host === '') throw new Invalid('INVALID_CLONE_URL', 'the URL names no host');
    return { transport: 'ssh', host };
  }
  return { transport: 'local' };
}

/**
 * Throws Invalid (`clone URL … may not be reached: why`, with user info redacted) unless the outbound policy
 * lets Slipway clone from `url`.
 */
export async function checkCloneUrl(policy: OutboundPolicy, url: string): Promise<void> {
  const refuse = (why: string): never => {
    throw new Invalid('CLONE_URL_NOT_ALLOWED', `clone URL ${redactUrl(url)} may not be reached: ${why}`);
  };
  let parsed: CloneUrl;
  try {
    parsed = parseCloneUrl(url);
  } catch (error) {
    return refuse(error instanceof Error ? error.message : String(error));
  }
  if (parsed.transport === 'local') {
    if (!policy.allowsAddress('127.0.0.1'))
      refuse('local paths and file:// URLs read this machine (loopback)');
    return;
  }
  try {
    await policy.checkHost(parsed.host ?? '');
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    refuse(error.message);
  }
}

/** `https://user:token@host/x.git` → `https://***@host/x.git`; `user@host:path` (scp-like) unchanged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
