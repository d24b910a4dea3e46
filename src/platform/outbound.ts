import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Invalid } from './errors.js';

/**
 * Addresses no user-supplied URL may reach unless the operator allows them: loopback,
 * private, link-local, carrier-grade NAT, unspecified, multicast and reserved ranges.
 */
const internalRanges: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

/** `::ffff:10.0.0.1` is 10.0.0.1: IPv4-mapped addresses are judged as IPv4. */
function normalize(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  const version = isIP(bare);
  if (version === 0) return undefined;
  return { address: bare, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Parses `SLIPWAY_OUTBOUND_ALLOW`: CIDRs or single addresses, separated by commas or spaces. */
export function parseCidrList(list: string): BlockList {
  const allowed = new BlockList();
  for (const item of list.split(/[\s,]+/).filter(Boolean)) {
    const [address = '', bits] = item.split('/');
    const ip = normalize(address);
    const prefix = bits === undefined ? (ip?.family === 'ipv6' ? 128 : 32) : Number(bits);
    const max = ip?.family === 'ipv6' ? 128 : 32;
    if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > max)
      throw new Error(`invalid CIDR in outbound allow list: ${item}`);
    allowed.addSubnet(ip.address, prefix, ip.family);
  }
  return allowed;
}

/** Why `OutboundPolicy.download` failed; `kind` lets callers word it for their users. */
export class OutboundDownloadError extends Error {
  constructor(
    readonly kind: 'status' | 'too_large' | 'timeout' | 'too_many_redirects',
    message: string,
  ) {
    super(message);
  }
}

export interface OutboundResponse {
  status: number;
  body: string;
}

export interface OutboundJsonResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body; undefined when empty or not JSON. */
  body: unknown;
}

/**
 * The one check for every request Slipway sends to a URL a user gave it (webhooks, Slack,
 * log export callbacks): http(s) only, and no internal address unless `outboundAllow` lists it.
 * Host names are checked after resolution, on the addresses actually connected to, so a
 * name cannot be rebound to an internal address between the check and the connection.
 */
export class OutboundPolicy {
  private readonly internal = new BlockList();
  private readonly allowed: BlockList;

  constructor(allowList: string) {
    for (const [address, prefix, family] of internalRanges) this.internal.addSubnet(address, prefix, family);
    this.allowed = parseCidrList(allowList);
  }

  /** Whether an IP address may be connected to. */
  allowsAddress(address: string): boolean {
    const ip = normalize(address);
    if (!ip) return false;
    return !this.internal.check(ip.address, ip.family) || this.allowed.check(ip.address, ip.family);
  }

  /**
   * Validates a URL a user submits; `field` names it in the 400. Literal addresses and
   * `localhost` are judged now, other names when a request is sent.
   */
  validateUrl(value: string, field: string): URL {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Invalid('INVALID_URL', `${field}: must be an http or https URL`, { field });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Invalid('INVALID_URL', `${field}: must be an http or https URL`, { field });
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const literal = host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : host;
    if (isIP(literal) && !this.allowsAddress(literal))
      throw new Invalid('URL_NOT_ALLOWED', `${field}: this address may not be reached`, { field });
    return url;
  }

  /**
   * For a host another program connects to (git clones): throws Invalid when `host` (a name, or a literal
   * address with or without brackets) resolves to no address or to any address that may not be reached. The
   * other program resolves the name again, so this cannot stop a name rebound in between; it does stop every
   * name that points inside now.
   */
  async checkHost(host: string): Promise<void> {
    const bare = host.replace(/^\[|\]$/g, '');
    const name = bare === 'localhost' || bare.endsWith('.localhost') ? '127.0.0.1' : bare;
    let addresses: string[];
    if (isIP(name)) addresses = [name];
    else {
      try {
        addresses = (await dns.promises.lookup(name, { all: true })).map((a) => a.address);
      } catch {
        throw new Invalid('HOST_NOT_RESOLVED', `${host} cannot be resolved`);
      }
    }
    if (addresses.length === 0) throw new Invalid('HOST_NOT_RESOLVED', `${host} cannot be resolved`);
    const refused = addresses.find((address) => !this.allowsAddress(address));
    if (refused !== undefined) {
      throw new Invalid(
        'URL_NOT_ALLOWED',
        refused === name
          ? `${host} is an internal address not in the outbound allow list`
          : `${host} resolves to ${refused}, an internal address not in the outbound allow list`,
      );
    }
  }

  /** POSTs a JSON body; any status is returned, transport failures and refused addresses throw. */
  async postJson(
    target: string,
    payload: unknown,
    opts: { timeoutMs?: number; headers?: Record<string, string> } = {},
  ): Promise<OutboundResponse> {
    const url = this.validateUrl(target, 'url');
    const body = Buffer.from(JSON.stringify(payload));
    const client = url.protocol === 'https:' ? https : http;
    const lookup = this.checkedLookup();
    return new Promise<OutboundResponse>((resolve, reject) => {
      const request = client.request(
        url,
        {
          method: 'POST',
          lookup,
          timeout: opts.timeoutMs ?? 10_000,
          headers: {
            'content-type': 'application/json',
            'content-length': String(body.length),
            'user-agent': 'slipway',
            ...opts.headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            // Only a summary of the answer is kept, for error messages.
            if (size < 4096) chunks.push(chunk);
            size += chunk.length;
          });
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8').slice(0, 4096),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`request to ${url.host} timed out`)));
      request.on('error', reject);
      request.end(body);
    });
  }

  /**
   * GETs a JSON document (source-host APIs); any status is returned with its headers and parsed body
   * (undefined when it is not JSON). Bodies over `maxBytes` (default 8 MiB), transport failures and refused
   * addresses throw.
   */
  async getJson(
    target: string,
    opts: { timeoutMs?: number; headers?: Record<string, string>; maxBytes?: number } = {},
  ): Promise<OutboundJsonResponse> {
    const url = this.validateUrl(target, 'url');
    const client = url.protocol === 'https:' ? https : http;
    const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    return new Promise<OutboundJsonResponse>((resolve, reject) => {
      const request = client.request(
        url,
        {
          method: 'GET',
          lookup: this.checkedLookup(),
          timeout: opts.timeoutMs ?? 10_000,
          headers: { accept: 'application/json', 'user-agent': 'slipway', ...opts.headers },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes)
              request.destroy(new Error(`answer of ${url.host} is larger than ${maxBytes} bytes`));
            else chunks.push(chunk);
          });
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text === '' ? undefined : JSON.parse(text);
            } catch {
              body = undefined;
            }
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`request to ${url.host} timed out`)));
      request.on('error', reject);
      request.end();
    });
  }

  /**
   * GETs `target` into the file `dest` (created or truncated). Redirects (at most 5) are followed, each
   * target checked by this policy again. Throws `OutboundDownloadError` for a status other than 2xx, a
   * body over `maxBytes` (the file is then cut short; the caller removes it), a timeout (`timeoutMs` for
   * the whole download, default 10 minutes), a refused address or a transport failure.
   */
  async download(
    target: string,
    dest: string,
    opts: { maxBytes: number; timeoutMs?: number; signal?: AbortSignal },
  ): Promise<{ bytes: number; contentType?: string; url: string }> {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    let current = target;
    for (let hop = 0; hop <= 5; hop++) {
      const url = this.validateUrl(current, 'url');
      const answer = await this.downloadOnce(url, dest, opts.maxBytes, deadline, opts.signal);
      if (answer.redirect === undefined) return { ...answer, url: url.toString() };
      current = new URL(answer.redirect, url).toString();
    }
    throw new OutboundDownloadError('too_many_redirects', `more than 5 redirects from ${target}`);
  }

  private downloadOnce(
    url: URL,
    dest: string,
    maxBytes: number,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<{ bytes: number; contentType?: string; redirect?: string }> {
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        return reject(new OutboundDownloadError('timeout', `download from ${url.host} timed out`));
      const request = client.request(url, {
        method: 'GET',
        lookup: this.checkedLookup(),
        headers: { 'user-agent': 'slipway' },
        signal,
      });
      const timer = setTimeout(
        () => request.destroy(new OutboundDownloadError('timeout', `download from ${url.host} timed out`)),
        remaining,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      request.on('error', fail);
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (status >= 300 && status < 400 && location) {
          response.resume();
          clearTimeout(timer);
          return resolve({ bytes: 0, redirect: location });
        }
        if (status < 200 || status >= 300) {
          response.resume();
          return fail(new OutboundDownloadError('status', `${url.host} answered HTTP ${status}`));
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          request.destroy();
          return fail(new OutboundDownloadError('too_large', `larger than ${maxBytes} bytes`));
        }
        const file = fs.createWriteStream(dest);
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxBytes && !response.destroyed) {
            response.destroy(new OutboundDownloadError('too_large', `larger than ${maxBytes} bytes`));
          }
        });
        pipeline(response, file).then(
          () => {
            clearTimeout(timer);
            const type = response.headers['content-type'];
            resolve({ bytes, ...(type ? { contentType: type } : {}) });
          },
          (err: Error) => {
            request.destroy();
            fail(err);
          },
        );
      });
      request.end();
    });
  }

  /** A `dns.lookup` for http.request that drops refused addresses and fails when none is left. */
  private checkedLookup(): typeof dns.lookup {
    const check = (address: string) => this.allowsAddress(address);
    const refused = (hostname: string) =>
      Object.assign(new Error(`${hostname} resolves to an address that may not be reached`), {
        code: 'EADDRNOTALLOWED',
      });
    return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err);
        const allowed = addresses.filter((a) => check(a.address));
        if (allowed.length === 0) return callback(refused(hostname));
        if (options.all) return callback(null, allowed);
        return callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    }) as typeof dns.lookup;
  }
}
