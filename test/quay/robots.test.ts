// Robot accounts of users and organizations through /api/v1, and robots pushing with skopeo, on every test database.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { containersEnv, requireTools, run } from '../support/tools.js';

const tokenPattern = /^[A-Z0-9]{64}$/;
const datePattern = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/;

function assertBadRequest(res: QuayResponse<any>, field: string, what: string): void {
  assert.equal(res.status, 400, `${what}: ${res.text}`);
  assert.equal(res.body.error_type, 'invalid_request', what);
  assert.ok(String(res.body.detail).includes(field), `${what}: ${res.body.detail}`);
}

/** Whether these docker-login credentials get a registry token that allows `actions` on `repository`. */
async function registryAllows(
  server: TestServer,
  creds: { username: string; password: string },
  repository: string,
) {
  const res = await new RegistryClient(server.url, creds).token([`repository:${repository}:pull,push`]);
  if (res.status !== 200 || !res.token) return { status: res.status, actions: [] as string[] };
  const payload = JSON.parse(Buffer.from(res.token.split('.')[1]!, 'base64url').toString()) as {
    access: Array<{ actions: string[] }>;
  };
  return { status: res.status, actions: payload.access[0]?.actions ?? [] };
}

// The test image is built once for the whole file (both databases), in a directory removed after all tests.
let workDir: Promise<string> | undefined;
const imagesDir = () => (workDir ??= mkdtemp(join(tmpdir(), 'slipway-robots-')));
after(async () => {
  if (workDir) await rm(await workDir, { recursive: true, force: true });
});

forEachDatabase((database) => {
  describe(`Quay robot accounts on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    let owner: QuayClient;
    let orgAdmin: QuayClient;
    let orgMember: QuayClient;
    let stranger: QuayClient;
    let anonymous: QuayClient;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      anonymous = new QuayClient(server.url);
      owner = (await userWithToken(server, 'robotowner')).client;
      orgAdmin = (await userWithToken(server, 'botadmin')).client;
      orgMember = (await userWithToken(server, 'botmember')).client;
      stranger = (await userWithToken(server, 'stranger')).client;
      assert.equal((await orgAdmin.post('/organization/', { name: 'botorg' })).status, 201);
      assert.equal((await orgAdmin.put('/organization/botorg/team/readers', { role: 'member' })).status, 200);
      assert.equal((await orgAdmin.put('/organization/botorg/team/readers/members/botmember')).status, 200);
    });
    after(() => server?.close());

    test('user robots: create, get, list, regenerate, permissions, delete', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await owner.put('/user/robots/ci', {
        description: 'CI pushes',
        unstructured_metadata: { team: 'platform' },
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), [
        'created',
        'description',
        'last_accessed',
        'name',
        'token',
        'unstructured_metadata',
      ]);
      assert.equal(created.body.name, 'robotowner+ci');
      assert.match(created.body.token, tokenPattern);
      assert.match(created.body.created, datePattern);
      assert.equal(created.body.last_accessed, null);
      assert.equal(created.body.description, 'CI pushes');
      assert.deepEqual(created.body.unstructured_metadata, { team: 'platform' });

      const got = await owner.get('/user/robots/ci');
      assert.equal(got.status, 200);
      assert.equal(got.body.token, created.body.token, 'the token is shown again to its owner');
      assert.deepEqual(got.body.unstructured_metadata, { team: 'platform' });

      // The token is stored hashed and sealed, never in clear.
      const row = await server.db
        .selectFrom('robots')
        .selectAll()
        .where('name', '=', 'robotowner+ci')
        .executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes(created.body.token));

      assert.equal((await owner.put('/user/robots/second')).status, 201);
      const list = await owner.get('/user/robots');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.robots.map((r: { name: string }) => r.name),
        ['robotowner+ci', 'robotowner+second'],
      );
      assert.match(list.body.robots[0].token, tokenPattern);
      assert.ok(!('unstructured_metadata' in list.body.robots[0]));
      const noTokens = await owner.get('/user/robots?token=false');
      assert.ok(noTokens.body.robots.every((r: object) => !('token' in r)));
      assert.equal((await owner.get('/user/robots?limit=1')).body.robots.length, 1);

      // Permissions: the robot's grants on the owner's repositories.
      const repo = await server.services.repositories.create('robotowner/app', {
        kind: 'user',
        id: (await server.services.identity.getUserByName('robotowner')).id,
        name: 'robotowner',
        superuser: false,
      });
      await server.services.identity.setGrant(
        repo.id,
        'robotowner',
        { kind: 'user', name: 'robotowner+ci' },
        'write',
      );
      assert.deepEqual((await owner.get('/user/robots/ci/permissions')).body, {
        permissions: [{ repository: { name: 'app', is_public: false }, role: 'write' }],
      });
      const withPermissions = await owner.get('/user/robots?permissions=true');
      assert.deepEqual(
        { ...withPermissions.body.robots[0], created: undefined, token: undefined },
        {
          name: 'robotowner+ci',
          created: undefined,
          last_accessed: null,
          teams: [],
          repositories: ['app'],
          description: 'CI pushes',
          token: undefined,
        },
      );

      // Regenerating the token ends the old one for docker login.
      const oldCreds = { username: 'robotowner+ci', password: created.body.token as string };
      assert.deepEqual(await registryAllows(server, oldCreds, 'robotowner/app'), {
        status: 200,
        actions: ['pull', 'push'],
      });
      const regenerated = await owner.post('/user/robots/ci/regenerate');
      assert.equal(regenerated.status, 200);
      assert.match(regenerated.body.token, tokenPattern);
      assert.notEqual(regenerated.body.token, created.body.token);
      assert.equal((await registryAllows(server, oldCreds, 'robotowner/app')).status, 401);
      const newCreds = { username: 'robotowner+ci', password: regenerated.body.token as string };
      assert.equal((await registryAllows(server, newCreds, 'robotowner/app')).status, 200);
      assert.match((await owner.get('/user/robots/ci')).body.last_accessed, datePattern, 'login is recorded');

      assert.equal((await owner.delete('/user/robots/ci')).status, 204);
      assertBadRequest(await owner.get('/user/robots/ci'), 'Could not find robot', 'deleted');
      assertBadRequest(await owner.delete('/user/robots/ci'), 'Could not find robot', 'deleted twice');
      assertBadRequest(await owner.post('/user/robots/ci/regenerate'), 'Could not find robot', 'regenerate');
      assert.equal((await registryAllows(server, newCreds, 'robotowner/app')).status, 401);
    });

    test('user robots need a signed-in user with user:admin', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: readOnly } = await userWithToken(server, 'robotowner', [
        'user:read',
        'org:admin',
        'repo:admin',
      ]);
      const { client: superuser } = await userWithToken(server, 'admin');
      for (const [method, path] of [
        ['GET', '/user/robots'],
        ['GET', '/user/robots/second'],
        ['PUT', '/user/robots/third'],
        ['DELETE', '/user/robots/second'],
        ['POST', '/user/robots/second/regenerate'],
        ['GET', '/user/robots/second/permissions'],
      ] as const) {
        assert.equal((await anonymous.request(method, path)).status, 401, `anonymous ${method} ${path}`);
        assert.equal((await readOnly.request(method, path)).status, 403, `no user:admin ${method} ${path}`);
      }
      // Each user sees only its own robots.
      assert.deepEqual((await stranger.get('/user/robots')).body.robots, []);
      assertBadRequest(await stranger.get('/user/robots/second'), 'Could not find robot', 'another user');
      assert.deepEqual((await superuser.get('/user/robots')).body.robots, []);
      assert.equal((await owner.get('/user/robots/second')).status, 200);
    });

    test('organization robots: bodies are optional; tokens and permissions only for admins', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const bare = await fetch(`${server.url}/api/v1/organization/botorg/robots/nobody`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${orgAdmin.token}` },
      });
      assert.equal(bare.status, 201, 'no body at all');
      const emptyJson = await fetch(`${server.url}/api/v1/organization/botorg/robots/emptyjson`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${orgAdmin.token}`, 'content-type': 'application/json' },
      });
      assert.equal(emptyJson.status, 201, 'an empty JSON body');
      const created = await orgAdmin.put('/organization/botorg/robots/deployer', { description: 'deploys' });
      assert.equal(created.status, 201);
      assert.equal(created.body.name, 'botorg+deployer');
      assert.equal(created.body.unstructured_metadata, null);
      const got = await orgAdmin.get('/organization/botorg/robots/nobody');
      assert.deepEqual(got.body.unstructured_metadata, {});
      assert.equal(got.body.description, '');

      await server.services.identity.upsertTeam('botorg', 'deployers', { role: 'member' });
      await server.services.identity.addTeamMember('botorg', 'deployers', 'botorg+deployer');
      const repo = await server.services.repositories.create('botorg/site', {
        kind: 'user',
        id: (await server.services.identity.getUserByName('botadmin')).id,
        name: 'botadmin',
        superuser: false,
      });
      await server.services.repositories.setVisibility('botorg/site', 'public');
      await server.services.identity.setGrant(
        repo.id,
        'botorg',
        { kind: 'user', name: 'botorg+deployer' },
        'write',
      );

      const asAdmin = await orgAdmin.get('/organization/botorg/robots?permissions=true');
      assert.equal(asAdmin.status, 200);
      const deployer = asAdmin.body.robots.find((r: { name: string }) => r.name === 'botorg+deployer');
      assert.deepEqual(Object.keys(deployer), [
        'name',
        'created',
        'last_accessed',
        'teams',
        'repositories',
        'description',
        'token',
      ]);
      assert.deepEqual(
        deployer.teams.map((x: { name: string }) => x.name),
        ['deployers'],
      );
      assert.equal(deployer.teams[0].avatar.kind, 'team');
      assert.deepEqual(deployer.repositories, ['site']);
      assert.match(deployer.token, tokenPattern);

      const asMember = await orgMember.get('/organization/botorg/robots?permissions=true&token=true');
      assert.equal(asMember.status, 200);
      assert.deepEqual(
        asMember.body.robots.map((r: { name: string }) => r.name),
        ['botorg+deployer', 'botorg+emptyjson', 'botorg+nobody'],
      );
      for (const robot of asMember.body.robots) {
        assert.ok(!('token' in robot), 'members never see tokens');
        assert.ok(!('teams' in robot), 'nor permissions');
      }
      assert.equal((await orgMember.get('/organization/botorg/robots/deployer')).status, 403);
      assert.equal((await stranger.get('/organization/botorg/robots')).status, 403);
      assert.equal((await anonymous.get('/organization/botorg/robots')).status, 401);

      assert.deepEqual((await orgAdmin.get('/organization/botorg/robots/deployer/permissions')).body, {
        permissions: [{ repository: { name: 'site', is_public: true }, role: 'write' }],
      });
      const regenerated = await orgAdmin.post('/organization/botorg/robots/deployer/regenerate');
      assert.equal(regenerated.status, 200);
      assert.notEqual(regenerated.body.token, deployer.token);
      assert.equal(
        (await orgAdmin.get('/organization/botorg/robots/deployer')).body.token,
        regenerated.body.token,
      );

      assert.equal((await orgAdmin.delete('/organization/botorg/robots/deployer')).status, 204);
      assert.equal(
        (await orgAdmin.get('/organization/botorg/team/deployers/members')).body.members.length,
        0,
      );
      assert.deepEqual(
        (await orgAdmin.get('/organization/botorg/team/deployers/permissions')).body.permissions,
        [],
      );
      assertBadRequest(
        await orgAdmin.get('/organization/botorg/robots/deployer'),
        'Could not find robot',
        'gone',
      );
      assertBadRequest(
        await orgAdmin.delete('/organization/botorg/robots/deployer'),
        'Could not find robot',
        'twice',
      );
      assertBadRequest(
        await orgAdmin.get('/organization/botorg/robots/deployer/permissions'),
        'Could not find robot',
        'permissions of a missing robot',
      );
      for (const name of ['nobody', 'emptyjson'])
        assert.equal((await orgAdmin.delete(`/organization/botorg/robots/${name}`)).status, 204);
    });

    test('robot creation refuses bad input with a 400 naming the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      for (const base of ['/user/robots', '/organization/botorg/robots']) {
        const client = base.startsWith('/user') ? owner : orgAdmin;
        assertBadRequest(
          await client.put(`${base}/long`, { description: 'x'.repeat(256) }),
          'description',
          'long',
        );
        assertBadRequest(
          await client.put(`${base}/meta`, { unstructured_metadata: 'text' }),
          'unstructured_metadata',
          'meta',
        );
        assertBadRequest(await client.put(`${base}/Bad!Name`), 'robot_shortname', 'name');
        assertBadRequest(await client.put(`${base}/x`), 'robot_shortname', 'too short');
        assertBadRequest(
          await client.request('PUT', `${base}/broken`, '{"description":'),
          'JSON',
          'broken JSON',
        );
        assert.equal((await client.put(`${base}/dup`, { description: 'x'.repeat(255) })).status, 201);
        assertBadRequest(await client.put(`${base}/dup`), 'Existing robot with name', 'existing');
        assert.equal((await client.delete(`${base}/dup`)).status, 204);
        for (const name of ['long', 'meta', 'broken'])
          assertBadRequest(
            await client.get(`${base}/${name}`),
            'Could not find robot',
            `${name} was not created`,
          );
      }
    });

    test('the discovery document lists every robot operation', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const doc = await anonymous.get('/discovery');
      const ops = new Set<string>();
      for (const path of Object.values(doc.body.paths) as Array<Record<string, { operationId: string }>>)
        for (const op of Object.values(path)) ops.add(op.operationId);
      for (const id of [
        'getUserRobots',
        'getUserRobot',
        'createUserRobot',
        'deleteUserRobot',
        'regenerateUserRobotToken',
        'getUserRobotPermissions',
        'getOrgRobots',
        'getOrgRobot',
        'createOrgRobot',
        'deleteOrgRobot',
        'regenerateOrgRobotToken',
        'getOrgRobotPermissions',
      ])
        assert.ok(ops.has(id), id);
      const create = doc.body.paths['/api/v1/organization/{orgname}/robots/{robot_shortname}'].put;
      assert.deepEqual(create.security, [{ oauth2_implicit: ['org:admin'] }]);
    });

    test('a robot created through the API logs in and pushes with skopeo once a team or prototype allows it', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      if (!requireTools(t, 'skopeo', 'buildah', 'busybox')) return;
      const dir = await imagesDir();
      const { env: imageEnv, ociLayout } = await buildTestImages(join(dir, 'images'));
      let dirs = 0;
      const freshEnv = () => containersEnv(join(dir, `${database}-${++dirs}`));
      const skopeo = (env: NodeJS.ProcessEnv, ...args: string[]) =>
        run('skopeo', args, { env, timeoutMs: 60_000 });
      const copy = (creds: string, target: string) =>
        skopeo(
          imageEnv,
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          creds,
          `oci:${ociLayout}:${TEST_IMAGE_TAG}`,
          `docker://${server.host}/${target}`,
        );

      const pusher = await orgAdmin.put('/organization/botorg/robots/pusher', {
        description: 'pushes images',
      });
      const idle = await orgAdmin.put('/organization/botorg/robots/idle');
      const deployer = await orgAdmin.put('/organization/botorg/robots/shipper');
      for (const r of [pusher, idle, deployer]) assert.equal(r.status, 201);

      // skopeo login with the robot's name and token.
      const loginEnv = freshEnv();
      const login = await skopeo(
        loginEnv,
        'login',
        '--tls-verify=false',
        '-u',
        'botorg+pusher',
        '-p',
        pusher.body.token,
        server.host,
      );
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login Succeeded/);
      const auth = JSON.parse(await readFile(loginEnv.REGISTRY_AUTH_FILE!, 'utf8')) as {
        auths: Record<string, { auth: string }>;
      };
      assert.equal(
        Buffer.from(auth.auths[server.host]!.auth, 'base64').toString(),
        `botorg+pusher:${pusher.body.token}`,
      );
      const wrong = await skopeo(
        freshEnv(),
        'login',
        '--tls-verify=false',
        '-u',
        'botorg+pusher',
        '-p',
        'A'.repeat(64),
        server.host,
      );
      assert.notEqual(wrong.code, 0, 'a wrong robot token does not log in');

      // Without rights the robot cannot push.
      const refused = await copy(`botorg+pusher:${pusher.body.token}`, 'botorg/app:v1');
      assert.notEqual(refused.code, 0, 'a robot in no team cannot create repositories');
      assert.match(refused.stderr, /denied|unauthorized|forbidden/i);

      // A team with role creator lets it create (and so push to) repositories.
      assert.equal(
        (await orgAdmin.put('/organization/botorg/team/builders', { role: 'creator' })).status,
        200,
      );
      assert.equal(
        (await orgAdmin.put('/organization/botorg/team/builders/members/botorg+pusher')).status,
        200,
      );
      // Repositories it creates get the organization's prototypes: here write for the shipper robot.
      const prototype = await orgAdmin.post('/organization/botorg/prototypes', {
        role: 'write',
        delegate: { kind: 'user', name: 'botorg+shipper' },
      });
      assert.equal(prototype.status, 200, prototype.text);
      const pushed = await copy(`botorg+pusher:${pusher.body.token}`, 'botorg/app:v1');
      assert.equal(pushed.code, 0, pushed.stderr);
      const inspect = await skopeo(
        imageEnv,
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        `botorg+pusher:${pusher.body.token}`,
        `docker://${server.host}/botorg/app:v1`,
      );
      assert.equal(inspect.code, 0, inspect.stderr);

      assert.deepEqual(
        (await orgAdmin.get('/organization/botorg/robots/pusher/permissions')).body.permissions,
        [{ repository: { name: 'app', is_public: false }, role: 'admin' }],
      );
      assert.deepEqual(
        (await orgAdmin.get('/organization/botorg/robots/shipper/permissions')).body.permissions,
        [{ repository: { name: 'app', is_public: false }, role: 'write' }],
      );
      const shipped = await copy(`botorg+shipper:${deployer.body.token}`, 'botorg/app:v2');
      assert.equal(shipped.code, 0, `the prototype's grant lets the shipper push: ${shipped.stderr}`);

      // The idle robot still cannot push, neither to the existing repository nor to a new one.
      const idleExisting = await copy(`botorg+idle:${idle.body.token}`, 'botorg/app:v3');
      assert.notEqual(idleExisting.code, 0, 'no grant on botorg/app');
      const idleNew = await copy(`botorg+idle:${idle.body.token}`, 'botorg/idle:v1');
      assert.notEqual(idleNew.code, 0, 'no right to create');
      assert.equal(await server.services.repositories.find('botorg/idle'), undefined);
      // Nor can the shipper create repositories: its prototype grant is on botorg/app only.
      assert.notEqual((await copy(`botorg+shipper:${deployer.body.token}`, 'botorg/other:v1')).code, 0);
    });
  });
});
