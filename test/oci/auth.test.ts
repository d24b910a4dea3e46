// Registry authentication and authorization over HTTP: who may pull, push and delete what,
// what the token endpoint grants, and what a token is good for. On every test database.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { ManualClock } from '../../src/platform/clock.js';
import { postgresAvailable, testDatabases } from '../support/databases.js';
import { RegistryClient, parseChallenge } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

interface Creds {
  username: string;
  password: string;
}
interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}
interface TokenPayload {
  iss?: string;
  aud?: string | string[];
  sub?: string;
  name?: string;
  su?: boolean;
  iat?: number;
  nbf?: number;
  exp?: number;
  access?: AccessEntry[];
}
interface ErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>;
}

const tokenTtlSeconds = 300;
const users = {
  admin: { username: 'admin', password: adminPassword },
  alice: { username: 'alice', password: 'alice-password-1' },
  bob: { username: 'bob', password: 'bob-password-1' },
  carol: { username: 'carol', password: 'carol-password-1' },
  dave: { username: 'dave', password: 'dave-password-1' },
} satisfies Record<string, Creds>;
type Who = keyof typeof users | 'anonymous';

const sha256 = (bytes: Uint8Array | string): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const decode = (token: string): TokenPayload =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as TokenPayload;
const b64url = (value: object | string): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A raw request with exactly this bearer token (or none): no challenge is followed. */
async function call(
  server: TestServer,
  method: string,
  path: string,
  token?: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    redirect: 'manual',
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const clientFor = (server: TestServer, who: Who) =>
  new RegistryClient(server.url, who === 'anonymous' ? undefined : users[who]);

/** A token from /v2/auth for these scopes, as `who`. */
async function tokenFor(
  server: TestServer,
  who: Who,
  ...scopes: string[]
): Promise<{ token: string; payload: TokenPayload }> {
  const res = await clientFor(server, who).token(scopes);
  assert.equal(res.status, 200, `token for ${who}: ${JSON.stringify(res.body)}`);
  assert.ok(res.token);
  return { token: res.token, payload: decode(res.token) };
}

/** The `access` claim the token endpoint grants `who` for these scopes. */
const granted = async (server: TestServer, who: Who, ...scopes: string[]) =>
  (await tokenFor(server, who, ...scopes)).payload.access;

/** Pushes a one-layer image as `who` and returns its manifest digest. */
async function pushImage(
  server: TestServer,
  who: Who,
  name: string,
  tag: string,
): Promise<{ digest: string; layer: string }> {
  const client = clientFor(server, who);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', name, tag }));
  const layerBytes = Buffer.from(`layer of ${name}:${tag}`);
  const configDigest = await client.pushBlob(name, config);
  const layer = await client.pushBlob(name, layerBytes);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: layerBytes.length }],
  });
  const put = await client.pushManifest(name, tag, manifest);
  assert.equal(put.status, 201, put.body.toString());
  return { digest: sha256(manifest), layer };
}

async function authSuite(t: TestContext, database: 'sqlite' | 'postgres'): Promise<void> {
  const clock = new ManualClock();
  const server = await startTestServer({ database, clock, config: { tokenTtlSeconds } });
  t.after(() => server.close());
  const { identity, repositories } = server.services;
  const realm = `${server.url}/v2/auth`;

  for (const name of ['alice', 'bob', 'carol', 'dave'] as const)
    await identity.createUser({ name, password: users[name].password });
  // alice/private: private; alice/public: public; bob/private: private; bob/public: public;
  // bob/granted: private, alice has read on it; carol has read on alice/private.
  const image = await pushImage(server, 'alice', 'alice/private', 'v1');
  await pushImage(server, 'alice', 'alice/public', 'v1');
  await pushImage(server, 'bob', 'bob/private', 'v1');
  await pushImage(server, 'bob', 'bob/public', 'v1');
  await pushImage(server, 'bob', 'bob/granted', 'v1');
  await repositories.setVisibility('alice/public', 'public');
  await repositories.setVisibility('bob/public', 'public');
  const aliceId = (await identity.getUserByName('alice')).id;
  const carolId = (await identity.getUserByName('carol')).id;
  await identity.grantRepository((await repositories.get('alice/private')).id, carolId, 'read');
  await identity.grantRepository((await repositories.get('bob/granted')).id, aliceId, 'read');
  // An organization: bob administers it, carol is a plain member.
  await identity.createOrganization({ name: 'team', owner: await identity.getUserByName('bob') });
  await identity.setMember('team', 'carol', 'member');
  await pushImage(server, 'bob', 'team/app', 'v1');

  await t.test('pull, push and delete for anonymous, owner, other user, grantee and superuser', async () => {
    // Each action through the full challenge → token → retry dance of a registry client:
    // pull = GET manifest (200), push = start an upload (202), delete = DELETE an absent tag (404 once allowed).
    const probe = async (who: Who, repo: string) => {
      const client = clientFor(server, who);
      const pull = await client.request('GET', `/v2/${repo}/manifests/v1`);
      const push = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
      const del = await client.request('DELETE', `/v2/${repo}/manifests/no-such-tag`);
      return {
        pull: pull.status === 200,
        push: push.status === 202,
        delete: del.status === 404,
        statuses: [pull, push, del].map((r) => r.status),
      };
    };
    const none = { pull: false, push: false, delete: false };
    const read = { pull: true, push: false, delete: false };
    const all = { pull: true, push: true, delete: true };
    const expected: Array<[Who, string, typeof none]> = [
      ['anonymous', 'alice/private', none],
      ['anonymous', 'alice/public', read],
      ['alice', 'alice/private', all],
      ['alice', 'alice/public', all],
      ['bob', 'alice/private', none],
      ['bob', 'alice/public', read],
      ['carol', 'alice/private', read],
      ['carol', 'alice/public', read],
      ['alice', 'bob/granted', read],
      ['carol', 'team/app', none],
      ['bob', 'team/app', all],
      ['admin', 'alice/private', all],
      ['admin', 'alice/public', all],
      ['admin', 'team/app', all],
    ];
    for (const [who, repo, want] of expected) {
      const { statuses, ...got } = await probe(who, repo);
      assert.deepEqual(got, want, `${who} on ${repo}: statuses ${statuses.join(',')}`);
      for (const status of statuses)
        assert.ok([200, 202, 404, 401].includes(status), `${who} on ${repo}: unexpected ${status}`);
    }

    // A real delete: only who may delete removes the tag.
    const doomed = await pushImage(server, 'alice', 'alice/private', 'doomed');
    for (const who of ['anonymous', 'bob', 'carol'] as const) {
      assert.equal(
        (await clientFor(server, who).request('DELETE', `/v2/alice/private/manifests/${doomed.digest}`))
          .status,
        401,
        who,
      );
    }
    assert.equal(
      (await clientFor(server, 'admin').request('DELETE', `/v2/alice/private/manifests/${doomed.digest}`))
        .status,
      202,
    );
    assert.equal(
      (await clientFor(server, 'alice').request('GET', '/v2/alice/private/manifests/doomed')).status,
      404,
    );
  });

  await t.test('a read-only grant cannot push: no upload, no manifest, no tag', async () => {
    assert.deepEqual(await granted(server, 'carol', 'repository:alice/private:pull,push,delete'), [
      { type: 'repository', name: 'alice/private', actions: ['pull'] },
    ]);
    const carol = clientFor(server, 'carol');
    await assert.rejects(carol.pushBlob('alice/private', Buffer.from('from carol')), /POST upload: 401/);
    const put = await carol.pushManifest(
      'alice/private',
      'by-carol',
      (await carol.request('GET', '/v2/alice/private/manifests/v1')).body.toString(),
    );
    assert.equal(put.status, 401);
    assert.equal(put.json<ErrorBody>().errors[0]?.code, 'DENIED');
    assert.match(put.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    const tags = await clientFor(server, 'alice').request('GET', '/v2/alice/private/tags/list');
    assert.deepEqual(tags.json<{ tags: string[] }>().tags, ['v1']);
  });

  await t.test('tokens are scoped per repository and per action', async () => {
    const { token } = await tokenFor(server, 'alice', 'repository:alice/private:pull');
    assert.equal((await call(server, 'GET', '/v2/alice/private/manifests/v1', token)).status, 200);
    // alice may do everything on alice/public, but this token does not say so.
    const other = await call(server, 'GET', '/v2/alice/public/manifests/v1', token);
    assert.equal(other.status, 401);
    assert.equal(
      other.headers.get('www-authenticate'),
      `Bearer realm="${realm}",service="slipway",scope="repository:alice/public:pull",error="insufficient_scope"`,
    );
    // A pull token cannot push or delete.
    const push = await call(server, 'POST', '/v2/alice/private/blobs/uploads/', token);
    assert.equal(push.status, 401);
    assert.match(
      push.headers.get('www-authenticate') ?? '',
      /scope="repository:alice\/private:pull,push",error="insufficient_scope"/,
    );
    assert.equal((await call(server, 'DELETE', '/v2/alice/private/manifests/v1', token)).status, 401);
    // A push token for one repository does not push to another of the same owner.
    const { token: pushToken } = await tokenFor(server, 'alice', 'repository:alice/private:pull,push');
    assert.equal((await call(server, 'POST', '/v2/alice/private/blobs/uploads/', pushToken)).status, 202);
    assert.equal((await call(server, 'POST', '/v2/alice/public/blobs/uploads/', pushToken)).status, 401);
    // A repository token is no catalog token, and the other way round.
    assert.equal((await call(server, 'GET', '/v2/_catalog', token)).status, 401);
    const { token: catalogToken } = await tokenFor(server, 'alice', 'registry:catalog:*');
    assert.equal((await call(server, 'GET', '/v2/_catalog', catalogToken)).status, 200);
    assert.equal((await call(server, 'GET', '/v2/alice/private/manifests/v1', catalogToken)).status, 401);
    // Any valid token opens /v2/.
    assert.equal((await call(server, 'GET', '/v2/', catalogToken)).status, 200);
  });

  await t.test('forged tokens are refused', async () => {
    const { token } = await tokenFor(server, 'bob', 'repository:bob/private:pull');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    assert.equal((await call(server, 'GET', '/v2/bob/private/manifests/v1', token)).status, 200);
    const admin = await identity.getUserByName('admin');
    const claims = decode(token);
    const escalated: TokenPayload = {
      ...claims,
      sub: admin.id,
      name: 'admin',
      su: true,
      access: [{ type: 'repository', name: 'alice/private', actions: ['pull', 'push', 'delete'] }],
    };
    const otherKey = await generateKeyPair('ES256');
    const forgeries: Record<string, string> = {
      'modified payload': `${header}.${b64url(escalated)}.${signature}`,
      'wrong signature': `${header}.${payload}.${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`,
      'signature of another token': `${header}.${payload}.${(await tokenFor(server, 'bob', 'repository:bob/public:pull')).token.split('.')[2]}`,
      'signed with another key': await new SignJWT({ ...escalated })
        .setProtectedHeader({
          alg: 'ES256',
          kid: JSON.parse(Buffer.from(header, 'base64url').toString()).kid,
          typ: 'JWT',
        })
        .sign(otherKey.privateKey),
      'alg none': `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(escalated)}.`,
      'HS256 with a guessable secret': await new SignJWT({ ...escalated })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .sign(new TextEncoder().encode('slipway')),
      'not a JWT': 'not-a-token',
    };
    for (const [kind, forged] of Object.entries(forgeries)) {
      for (const path of ['/v2/alice/private/manifests/v1', '/v2/bob/private/manifests/v1']) {
        const res = await call(server, 'GET', path, forged);
        assert.equal(res.status, 401, `${kind} on ${path}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/, kind);
        assert.equal(JSON.parse(res.text).errors[0].code, 'UNAUTHORIZED', kind);
      }
    }
    // Wrong issuer or audience, signed with the right key, cannot be made without the key; a token
    // for another service name is refused as well (the service is the audience).
    const otherService = await startTestServer({
      database: 'sqlite',
      config: { tokenService: 'other-registry' },
    });
    try {
      const foreign = await new RegistryClient(otherService.url, users.admin).token(
        ['repository:alice/private:pull'],
        'other-registry',
      );
      assert.ok(foreign.token);
      assert.equal((await call(server, 'GET', '/v2/alice/private/manifests/v1', foreign.token)).status, 401);
    } finally {
      await otherService.close();
    }
  });

  await t.test('the token endpoint: credentials, anonymous tokens and the granted intersection', async () => {
    // Wrong or unknown credentials: 401 with a Basic challenge, no token.
    for (const creds of [
      { username: 'alice', password: 'wrong-password' },
      { username: 'nobody', password: 'whatever-password' },
      { username: 'alice', password: '' },
    ]) {
      const res = await new RegistryClient(server.url, creds).token(['repository:alice/private:pull']);
      assert.equal(res.status, 401, creds.username);
      assert.equal(res.token, undefined);
      assert.equal((res.body as ErrorBody).errors[0]?.code, 'UNAUTHORIZED');
    }
    const raw = await fetch(`${server.url}/v2/auth?service=slipway`, {
      headers: { authorization: `Basic ${Buffer.from('alice:wrong-password').toString('base64')}` },
    });
    assert.equal(raw.status, 401);
    assert.equal(raw.headers.get('www-authenticate'), 'Basic realm="slipway"');
    // The OAuth2 form refuses wrong passwords too.
    const form = await fetch(`${server.url}/v2/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'alice',
        password: 'wrong-password',
        service: 'slipway',
      }),
    });
    assert.equal(form.status, 401);

    // Anonymous: a token, with no subject, granting only pull on public repositories.
    const anon = await tokenFor(
      server,
      'anonymous',
      'repository:alice/public:pull,push,delete',
      'repository:alice/private:pull',
      'repository:alice/new-repo:push',
    );
    assert.ok(!anon.payload.sub, 'an anonymous token has no subject');
    assert.equal(anon.payload.name, undefined);
    assert.deepEqual(anon.payload.access, [
      { type: 'repository', name: 'alice/public', actions: ['pull'] },
      { type: 'repository', name: 'alice/private', actions: [] },
      { type: 'repository', name: 'alice/new-repo', actions: [] },
    ]);
    assert.equal((await call(server, 'GET', '/v2/alice/public/manifests/v1', anon.token)).status, 200);
    assert.equal((await call(server, 'POST', '/v2/alice/public/blobs/uploads/', anon.token)).status, 401);

    // A user: the intersection of what was asked and what the policy allows, per repository.
    const alice = await tokenFor(
      server,
      'alice',
      'repository:alice/private:pull,push',
      'repository:alice/public:*',
      'repository:alice/new-repo:push',
      'repository:bob/private:pull,push',
      'repository:bob/public:pull,push,delete',
      'repository:bob/granted:push,pull',
      'repository:bob/new-repo:push',
    );
    assert.equal(alice.payload.sub, aliceId);
    assert.equal(alice.payload.name, 'alice');
    assert.equal(alice.payload.su, false);
    assert.equal(alice.payload.iss, 'slipway');
    assert.equal(alice.payload.aud, 'slipway');
    assert.equal(alice.payload.exp! - alice.payload.iat!, tokenTtlSeconds);
    assert.deepEqual(alice.payload.access, [
      { type: 'repository', name: 'alice/private', actions: ['pull', 'push'] },
      { type: 'repository', name: 'alice/public', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'alice/new-repo', actions: ['push'] },
      { type: 'repository', name: 'bob/private', actions: [] },
      { type: 'repository', name: 'bob/public', actions: ['pull'] },
      { type: 'repository', name: 'bob/granted', actions: ['pull'] },
      { type: 'repository', name: 'bob/new-repo', actions: [] },
    ]);
    // Several scopes in one parameter, separated by spaces, as some clients send them.
    const url = new URL('/v2/auth', server.url);
    url.searchParams.set('scope', 'repository:alice/private:pull repository:bob/public:pull');
    const spaced = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`alice:${users.alice.password}`).toString('base64')}` },
    });
    assert.deepEqual(decode(((await spaced.json()) as { token: string }).token).access, [
      { type: 'repository', name: 'alice/private', actions: ['pull'] },
      { type: 'repository', name: 'bob/public', actions: ['pull'] },
    ]);
    // Unknown actions and malformed scopes grant nothing.
    assert.deepEqual(
      await granted(
        server,
        'alice',
        'repository:alice/private:pull,admin,bogus',
        'nonsense',
        'repository:Bad Name:pull',
      ),
      [{ type: 'repository', name: 'alice/private', actions: ['pull'] }],
    );
    // The superuser gets everything it asks for, even where it owns nothing, but cannot create a
    // repository in a namespace that does not exist.
    const su = await tokenFor(
      server,
      'admin',
      'repository:bob/private:pull,push,delete',
      'repository:bob/by-admin:push',
      'repository:nobody-ns/new:push',
    );
    assert.equal(su.payload.su, true);
    assert.deepEqual(su.payload.access, [
      { type: 'repository', name: 'bob/private', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'bob/by-admin', actions: ['push'] },
      { type: 'repository', name: 'nobody-ns/new', actions: [] },
    ]);
  });

  await t.test('a disabled user cannot get a token with its credentials', async () => {
    assert.deepEqual(await granted(server, 'dave', 'repository:dave/app:push'), [
      { type: 'repository', name: 'dave/app', actions: ['push'] },
    ]);
    await identity.setUserEnabled('dave', false);
    const res = await clientFor(server, 'dave').token(['repository:dave/app:push']);
    assert.equal(res.status, 401);
    assert.equal(res.token, undefined);
    const form = await fetch(`${server.url}/v2/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'dave',
        password: users.dave.password,
        service: 'slipway',
      }),
    });
    assert.equal(form.status, 401);
    // Re-enabled, the same credentials work again.
    await identity.setUserEnabled('dave', true);
    assert.equal((await clientFor(server, 'dave').token(['repository:dave/app:push'])).status, 200);
  });

  await t.test('challenges name the realm, the service and the scope the request needs', async () => {
    const challenge = (scope?: string) =>
      `Bearer realm="${realm}",service="slipway"${scope ? `,scope="${scope}"` : ''}`;
    const cases: Array<[method: string, path: string, scope?: string]> = [
      ['GET', '/v2/'],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
      ['GET', '/v2/alice/private/manifests/v1', 'repository:alice/private:pull'],
      ['HEAD', '/v2/alice/private/manifests/v1', 'repository:alice/private:pull'],
      ['GET', `/v2/alice/private/blobs/${image.layer}`, 'repository:alice/private:pull'],
      ['GET', '/v2/alice/private/tags/list', 'repository:alice/private:pull'],
      ['GET', `/v2/alice/private/referrers/${image.digest}`, 'repository:alice/private:pull'],
      ['POST', '/v2/alice/private/blobs/uploads/', 'repository:alice/private:pull,push'],
      ['PUT', '/v2/alice/private/manifests/v2', 'repository:alice/private:pull,push'],
      ['DELETE', '/v2/alice/private/manifests/v1', 'repository:alice/private:delete'],
      ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
    ];
    for (const [method, path, scope] of cases) {
      const res = await call(server, method, path);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get('www-authenticate'), challenge(scope), `${method} ${path}`);
      if (method !== 'HEAD') assert.equal(JSON.parse(res.text).errors[0].code, 'UNAUTHORIZED');
    }
    // What a client parses out of it leads back to this server's token endpoint.
    const parsed = parseChallenge(challenge('repository:alice/private:pull'));
    assert.deepEqual(parsed, { realm, service: 'slipway', scope: 'repository:alice/private:pull' });
  });

  await t.test('a private repository and a missing one look the same to who may not see it', async () => {
    const paths = (repo: string) => [
      ['GET', `/v2/${repo}/manifests/v1`],
      ['HEAD', `/v2/${repo}/manifests/v1`],
      ['GET', `/v2/${repo}/manifests/${image.digest}`],
      ['GET', `/v2/${repo}/blobs/${image.layer}`],
      ['HEAD', `/v2/${repo}/blobs/${image.layer}`],
      ['GET', `/v2/${repo}/tags/list`],
      ['GET', `/v2/${repo}/referrers/${image.digest}`],
      ['POST', `/v2/${repo}/blobs/uploads/`],
      ['DELETE', `/v2/${repo}/manifests/v1`],
    ];
    const seen = async (who: Who, repo: string) => {
      const client = clientFor(server, who);
      const out: string[] = [];
      for (const [method, path] of paths(repo)) {
        const res = await client.request(method!, path!);
        // The repository name itself is in the scope the error names; everything else must match.
        const body = res.body.toString().replaceAll(repo, '<repo>');
        const challenge = (res.headers.get('www-authenticate') ?? '').replaceAll(repo, '<repo>');
        out.push(`${method} ${res.status} ${challenge} ${body}`);
      }
      return out;
    };
    for (const [who, hidden, missing] of [
      ['anonymous', 'alice/private', 'alice/missing'],
      ['anonymous', 'alice/private', 'nobody-ns/missing'],
      ['bob', 'alice/private', 'alice/missing'],
      ['carol', 'team/app', 'team/missing'],
    ] as Array<[Who, string, string]>) {
      const [a, b] = [await seen(who, hidden), await seen(who, missing)];
      assert.deepEqual(a, b, `${who}: ${hidden} vs ${missing}`);
      for (const line of a) assert.match(line, /^\w+ 401 /, `${who} on ${hidden}: ${line}`);
      // And the token endpoint answers alike: no actions on either.
      assert.deepEqual(
        (await granted(server, who, `repository:${hidden}:pull`, `repository:${missing}:pull`))?.map(
          (e) => e.actions,
        ),
        [[], []],
      );
    }
  });

  await t.test('_catalog lists only what each subject may see', async () => {
    const catalog = async (who: Who) => {
      const res = await clientFor(server, who).request('GET', '/v2/_catalog');
      assert.equal(res.status, 200, `${who}: ${res.body.toString()}`);
      return res.json<{ repositories: string[] }>().repositories;
    };
    // dave/app may exist from an earlier push; list what is there for the superuser first.
    const everything = await catalog('admin');
    for (const name of [
      'alice/private',
      'alice/public',
      'bob/granted',
      'bob/private',
      'bob/public',
      'team/app',
    ]) {
      assert.ok(everything.includes(name), `admin sees ${name}`);
    }
    assert.deepEqual(everything, [...everything].sort());
    assert.deepEqual(await catalog('anonymous'), ['alice/public', 'bob/public']);
    assert.deepEqual(await catalog('alice'), ['alice/private', 'alice/public', 'bob/granted', 'bob/public']);
    assert.deepEqual(await catalog('bob'), [
      'alice/public',
      'bob/granted',
      'bob/private',
      'bob/public',
      'team/app',
    ]);
    assert.deepEqual(await catalog('carol'), ['alice/private', 'alice/public', 'bob/public']);
    // Paging does not reveal hidden names either.
    const page = await clientFor(server, 'anonymous').request('GET', '/v2/_catalog?n=1');
    assert.deepEqual(page.json<{ repositories: string[] }>().repositories, ['alice/public']);
    assert.equal(page.headers.get('link'), '</v2/_catalog?last=alice%2Fpublic&n=1>; rel="next"');
    const next = await clientFor(server, 'anonymous').request('GET', '/v2/_catalog?last=alice%2Fpublic&n=1');
    assert.deepEqual(next.json<{ repositories: string[] }>().repositories, ['bob/public']);
  });

  await t.test('mounting a blob from a repository the user cannot read uploads instead', async () => {
    // bob cannot read alice/private: with or without `from`, the blob is not linked (202, an upload starts).
    const bob = clientFor(server, 'bob');
    for (const query of [`mount=${image.layer}&from=alice/private`, `mount=${image.layer}`]) {
      const res = await bob.request('POST', `/v2/bob/mount-target/blobs/uploads/?${query}`, {
        extraScopes: ['repository:alice/private:pull'],
      });
      assert.equal(res.status, 202, `${query}: ${res.body.toString()}`);
      assert.match(res.headers.get('location') ?? '', /^\/v2\/bob\/mount-target\/blobs\/uploads\/[^/]+$/);
      assert.equal((await bob.request('HEAD', `/v2/bob/mount-target/blobs/${image.layer}`)).status, 404);
    }
    // carol may read alice/private (a read grant): the same mount links the blob (201).
    const carol = clientFor(server, 'carol');
    const mounted = await carol.request(
      'POST',
      `/v2/carol/copy/blobs/uploads/?mount=${image.layer}&from=alice/private`,
      {
        extraScopes: ['repository:alice/private:pull'],
      },
    );
    assert.equal(mounted.status, 201, mounted.body.toString());
    assert.equal(mounted.headers.get('docker-content-digest'), image.layer);
    assert.equal((await carol.request('HEAD', `/v2/carol/copy/blobs/${image.layer}`)).status, 200);
    // A public source may be mounted by anyone who can push.
    const publicLayer = (await clientFor(server, 'bob').request('GET', '/v2/bob/public/manifests/v1')).json<{
      layers: Array<{ digest: string }>;
    }>().layers[0]!.digest;
    const fromPublic = await carol.request(
      'POST',
      `/v2/carol/copy/blobs/uploads/?mount=${publicLayer}&from=bob/public`,
    );
    assert.equal(fromPublic.status, 201);
  });

  // Last: it moves the server's clock past every token issued so far.
  await t.test('expired tokens are refused with invalid_token', async () => {
    const { token } = await tokenFor(server, 'alice', 'repository:alice/private:pull');
    assert.equal((await call(server, 'GET', '/v2/alice/private/manifests/v1', token)).status, 200); // now cached as verified
    const { token: unused } = await tokenFor(server, 'alice', 'repository:alice/private:pull,push'); // never verified
    clock.advance((tokenTtlSeconds - 10) * 1000);
    assert.equal(
      (await call(server, 'GET', '/v2/alice/private/manifests/v1', token)).status,
      200,
      'still valid before expiry',
    );
    clock.advance(20 * 1000);
    const res = await call(server, 'GET', '/v2/alice/private/manifests/v1', token);
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer realm="${realm}",service="slipway",scope="repository:alice/private:pull",error="invalid_token"`,
    );
    assert.equal(JSON.parse(res.text).errors[0].code, 'UNAUTHORIZED');
    const stale = await call(server, 'POST', '/v2/alice/private/blobs/uploads/', unused);
    assert.equal(stale.status, 401);
    assert.match(stale.headers.get('www-authenticate') ?? '', /,error="invalid_token"$/);
    // A fresh token works again.
    const fresh = await tokenFor(server, 'alice', 'repository:alice/private:pull');
    assert.equal((await call(server, 'GET', '/v2/alice/private/manifests/v1', fresh.token)).status, 200);
  });
}

for (const database of testDatabases()) {
  test(`registry auth on ${database}`, async (t) => {
    if (database === 'postgres' && !(await postgresAvailable())) {
      t.skip('PostgreSQL is not reachable');
      return;
    }
    await authSuite(t, database);
  });
}
