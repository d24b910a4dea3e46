import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  /** `http://127.0.0.1:PORT`; `${url}/<name>.git` is the repository `root/<name>.git`. */
  url: string;
  /** The path and Authorization header of every request received, in order. */
  requests: Array<{ url: string; authorization?: string }>;
  close(): Promise<void>;
}

export interface GitHttpOptions {
  /**
   * Private repositories: every request needs HTTP Basic auth with this password (and this user name, when
   * given; any otherwise, as GitHub takes any name with a token); others are answered 401.
   */
  auth?: { username?: string; password: string };
}

/**
 * Git's smart HTTP protocol on 127.0.0.1 over the bare repositories under `root`, served by the real
 * `git http-backend` (as CGI), so clones, fetches and `ls-remote` work as against any git host.
 */
export async function startGitHttpServer(root: string, options: GitHttpOptions = {}): Promise<GitHttpServer> {
  const requests: GitHttpServer['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const user = options.auth ? authenticated(req.headers.authorization, options.auth) : '';
    if (user === undefined) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('unauthorized\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding']
          ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }
          : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        ...(user ? { REMOTE_USER: user } : {}),
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    // The CGI's header block, then its body streamed as it comes.
    let head = Buffer.alloc(0);
    let headerDone = false;
    child.stdout.on('data', (data: Buffer) => {
      if (headerDone) {
        res.write(data);
        return;
      }
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headerDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    child.on('close', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The user name of a Basic `authorization` that `auth` accepts; undefined when it accepts none. */
function authenticated(
  authorization: string | undefined,
  auth: { username?: string; password: string },
): string | undefined {
  const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (!basic) return undefined;
  const pair = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  if (colon < 0) return undefined;
  const [username, password] = [pair.slice(0, colon), pair.slice(colon + 1)];
  if (password !== auth.password || (auth.username !== undefined && username !== auth.username))
    return undefined;
  return username || 'git';
}
