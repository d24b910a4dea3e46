// Repositories and their permissions through the Quay API, on both databases: create, list
// (filters, paging), get, update, visibility, state (a READ_ONLY repository refuses pushes through
// /v2/), delete, and user/robot/team permissions, with the authorization matrix and no private
// name leaking to outsiders.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { subjectOf } from '../../src/identity/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pushImage } from './push.js';

const org = 'rorg';
const privateRepo = `/repository/${org}/private1`;

forEachDatabase((database) => {
  describe(`Quay repositories and permissions on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    const c = {} as Record<
      | 'alice' // organization owner (admin)
      | 'bob' // read grant
      | 'carol' // write grant
      | 'dave' // in a team that gets a read grant
      | 'creator' // in a team with the creator role
      | 'member' // in a team with the member role, no grant
      | 'eve' // user of another organization
      | 'superuser'
      | 'aliceNoCreate' // alice with a token lacking repo:create
      | 'aliceWriteOnly' // alice with repo:read and repo:write only
      | 'aliceUserRead', // alice with user:read only
      QuayClient
    >;
    let robotToken = '';
    const anonymous = () => new QuayClient(server.url);
    const registryAs = (username: string, password: string) =>
      new RegistryClient(server.url, { username, password });
    const newRepo = (client: QuayClient, repository: string, extra: Record<string, unknown> = {}) =>
      client.post('/repository', {
        namespace: org,
        repository,
        visibility: 'private',
        description: `${repository} description`,
        ...extra,
      });

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      const { identity, robots } = server.services;
      for (const name of ['alice', 'bob', 'carol', 'dave', 'creator', 'member', 'eve'] as const)
        c[name] = (await userWithToken(server, `r${name}`)).client;
      c.superuser = (await userWithToken(server, 'admin')).client;
      c.aliceNoCreate = (
        await userWithToken(server, 'ralice', ['repo:read', 'repo:write', 'repo:admin'])
      ).client;
      c.aliceWriteOnly = (await userWithToken(server, 'ralice', ['repo:read', 'repo:write'])).client;
      c.aliceUserRead = (await userWithToken(server, 'ralice', ['user:read'])).client;
      await identity.createOrganization({ name: org, owner: await identity.getUserByName('ralice') });
      await identity.createOrganization({ name: 'otherorg', owner: await identity.getUserByName('reve') });
      await identity.setMember(org, 'rcreator', 'creator');
      await identity.setMember(org, 'rmember', 'member');
      await identity.upsertTeam(org, 'devs', { role: 'member' });
      await identity.addTeamMember(org, 'devs', 'rdave');
      robotToken = (await robots.create(org, 'deployer')).token;
      await robots.create('otherorg', 'bot');
    });
    after(() => server?.close());

    test('create: 201 with the new name; errors name the field; who may create where', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await newRepo(c.alice, 'private1');
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body, { namespace: org, name: 'private1', kind: 'image' });
      assert.equal((await newRepo(c.alice, 'public1', { visibility: 'public' })).status, 201);

      const again = await newRepo(c.alice, 'private1');
      assert.equal(again.status, 400);
      assert.equal(again.body.detail, 'Repository already exists');
      for (const bad of ['Bad', 'a/b', '-x', 'x_', '']) {
        const res = await newRepo(c.alice, bad);
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.detail, 'Invalid repository name', bad);
        assert.equal(res.body.error_type, 'invalid_request');
      }
      const noDescription = await c.alice.post('/repository', {
        namespace: org,
        repository: 'x',
        visibility: 'private',
      });
      assert.equal(noDescription.status, 400);
      assert.match(noDescription.body.detail, /description/);
      const badVisibility = await newRepo(c.alice, 'x', { visibility: 'secret' });
      assert.equal(badVisibility.status, 400);
      assert.match(badVisibility.body.detail, /visibility/);
      const badKind = await newRepo(c.alice, 'x', { repo_kind: 'application' });
      assert.equal(badKind.status, 400);
      assert.match(badKind.body.detail, /repo_kind/);

      assert.equal((await newRepo(anonymous(), 'x')).status, 401);
      assert.equal((await newRepo(c.aliceNoCreate, 'x')).status, 403, 'token without repo:create');
      assert.equal((await newRepo(c.member, 'x')).status, 403, 'members may not create');
      assert.equal((await newRepo(c.eve, 'x')).status, 403, 'users of another organization may not');
      assert.equal((await newRepo(c.eve, 'x', { namespace: 'nosuchns' })).status, 403);
      assert.equal(
        (await newRepo(c.eve, 'x', { namespace: 'rbob' })).status,
        403,
        "another user's namespace",
      );
      assert.equal((await newRepo(c.creator, 'bycreator')).status, 201);
      assert.equal((await newRepo(c.superuser, 'bysuper')).status, 201);
      const own = await c.bob.post('/repository', {
        repository: 'mine',
        visibility: 'private',
        description: '',
      });
      assert.equal(own.status, 201);
      assert.deepEqual(own.body, { namespace: 'rbob', name: 'mine', kind: 'image' });

      // Grants used by the rest of the suite, through the permissions API.
      for (const [user, role] of [
        ['rbob', 'read'],
        ['rcarol', 'write'],
      ])
        assert.equal((await c.alice.put(`${privateRepo}/permissions/user/${user}`, { role })).status, 200);
      assert.equal((await c.alice.put(`${privateRepo}/permissions/team/devs`, { role: 'read' })).status, 200);
    });

    test('list: a filter is required; each caller sees only what it may read; no private name leaks', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const names = async (client: QuayClient, query: string) => {
        const res = await client.get(`/repository?${query}`);
        assert.equal(res.status, 200, `${query}: ${res.text}`);
        return (res.body.repositories as Array<{ namespace: string; name: string }>).map(
          (r) => `${r.namespace}/${r.name}`,
        );
      };
      const none = await c.alice.get('/repository');
      assert.equal(none.status, 400);
      assert.equal(none.body.detail, 'namespace, starred or public are required for this API call');

      assert.deepEqual(await names(c.alice, `namespace=${org}`), [
        'rorg/bycreator',
        'rorg/bysuper',
        'rorg/private1',
        'rorg/public1',
      ]);
      assert.deepEqual(await names(c.bob, `namespace=${org}`), ['rorg/private1']);
      assert.deepEqual(await names(c.dave, `namespace=${org}`), ['rorg/private1'], 'through the team');
      assert.deepEqual(await names(c.eve, `namespace=${org}`), []);
      assert.deepEqual(await names(c.eve, `namespace=${org}&public=true`), ['rorg/public1']);
      assert.deepEqual(await names(anonymous(), `namespace=${org}`), []);
      assert.deepEqual(await names(anonymous(), 'public=true'), ['rorg/public1']);
      assert.deepEqual(
        await names(c.aliceUserRead, `namespace=${org}`),
        [],
        'no repo:* scope, no private repos',
      );
      assert.deepEqual((await names(c.superuser, `namespace=${org}`)).length, 4);
      for (const client of [c.eve, anonymous()]) {
        const text = (await client.get('/repository?public=true')).text;
        assert.ok(!text.includes('private1') && !text.includes('bycreator'), 'private names stay hidden');
      }

      const full = await c.alice.get(`/repository?namespace=${org}&last_modified=true&popularity=true`);
      const item = full.body.repositories.find((r: any) => r.name === 'private1');
      assert.deepEqual(Object.keys(item).sort(), [
        'description',
        'is_public',
        'is_starred',
        'kind',
        'last_modified',
        'name',
        'namespace',
        'popularity',
        'quota_report',
        'state',
      ]);
      assert.deepEqual(
        [item.description, item.is_public, item.kind, item.state, item.last_modified, item.popularity],
        ['private1 description', false, 'image', 'NORMAL', null, 0],
      );
      assert.deepEqual(item.quota_report, { quota_bytes: 0, configured_quota: null }, 'empty, no quota');
      const anonItem = (await anonymous().get('/repository?public=true')).body.repositories[0];
      assert.ok(!('is_starred' in anonItem) && !('last_modified' in anonItem));

      const alice = subjectOf(await server.services.identity.getUserByName('ralice'));
      await server.services.stars.star(alice, (await server.services.repositories.find('rorg/private1'))!);
      assert.deepEqual(await names(c.alice, 'starred=true'), ['rorg/private1']);
      assert.equal(full.body.repositories.find((r: any) => r.name === 'public1').is_starred, false);
      assert.equal((await c.alice.get(`/repository?namespace=${org}`)).body.repositories[2].is_starred, true);
      assert.equal((await anonymous().get('/repository?starred=true')).status, 400);
    });

    test('list pages by 100 with an opaque next_page token', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client } = await userWithToken(server, 'pager');
      const pager = subjectOf(await server.services.identity.getUserByName('pager'));
      for (let i = 0; i < 105; i++)
        await server.services.repositories.create(`pager/r${String(i).padStart(3, '0')}`, pager);
      const first = await client.get('/repository?namespace=pager');
      assert.equal(first.body.repositories.length, 100);
      assert.equal(typeof first.body.next_page, 'string');
      const second = await client.get(`/repository?namespace=pager&next_page=${first.body.next_page}`);
      assert.deepEqual(
        second.body.repositories.map((r: any) => r.name),
        ['r100', 'r101', 'r102', 'r103', 'r104'],
      );
      assert.ok(!('next_page' in second.body));
      const garbage = await client.get('/repository?namespace=pager&next_page=not-a-token');
      assert.equal(garbage.body.repositories[0].name, 'r000', 'an unreadable token starts over');
    });

    test('get: the repository with tags and rights; refusals are 401/403, 404 only to namespace admins', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const image = await pushImage(registryAs('ralice', 'ralice-password-1'), 'rorg/private1', 'v1');
      const res = await c.alice.get(privateRepo);
      assert.equal(res.status, 200, res.text);
      const r = res.body;
      assert.deepEqual(
        {
          ...r,
          tags: undefined,
        },
        {
          namespace: org,
          name: 'private1',
          kind: 'image',
          description: 'private1 description',
          is_public: false,
          is_organization: true,
          is_starred: true,
          status_token: '',
          trust_enabled: false,
          tag_expiration_s: 1209600,
          is_free_account: true,
          state: 'NORMAL',
          tags: undefined,
          can_write: true,
          can_admin: true,
        },
      );
      assert.deepEqual(Object.keys(r.tags), ['v1']);
      assert.equal(r.tags.v1.manifest_digest, image.digest);
      assert.equal(r.tags.v1.size, image.layerSize);
      assert.match(r.tags.v1.last_modified, /-0000$/);
      assert.ok(!('tags' in (await c.alice.get(`${privateRepo}?includeTags=false`)).body));
      const stats = (await c.alice.get(`${privateRepo}?includeStats=true`)).body.stats;
      assert.equal(stats.length, 91);
      assert.match(stats[0].date, /^\d{4}-\d{2}-\d{2}$/);

      const rights = async (client: QuayClient) => {
        const got = await client.get(privateRepo);
        return got.status === 200 ? [got.body.can_write, got.body.can_admin] : got.status;
      };
      assert.deepEqual(await rights(c.bob), [false, false]);
      assert.deepEqual(await rights(c.carol), [true, false]);
      assert.deepEqual(await rights(c.dave), [false, false]);
      assert.deepEqual(await rights(c.aliceWriteOnly), [true, false], 'the token caps the role');
      assert.deepEqual(await rights(c.superuser), [true, true]);
      assert.equal(await rights(anonymous()), 401);
      assert.equal(await rights(c.eve), 403);
      assert.equal(await rights(c.member), 403);
      assert.equal(await rights(c.aliceUserRead), 403);
      const publicRepo = await anonymous().get(`/repository/${org}/public1`);
      assert.equal(publicRepo.status, 200);
      assert.deepEqual(
        [publicRepo.body.can_write, publicRepo.body.can_admin, publicRepo.body.is_starred],
        [false, false, false],
      );

      // A missing repository answers like a private one, except to the namespace's admins.
      const missing = `/repository/${org}/nothing-here`;
      assert.equal((await c.alice.get(missing)).status, 404);
      assert.equal((await c.superuser.get(missing)).status, 404);
      const [hidden, absent] = [await c.eve.get(privateRepo), await c.eve.get(missing)];
      assert.deepEqual([hidden.status, absent.status], [403, 403]);
      assert.deepEqual({ ...hidden.body, type: 0 }, { ...absent.body, type: 0 });
      assert.ok(!hidden.text.includes('private1'));
      assert.equal((await anonymous().get(missing)).status, 401);
    });

    test('update description: writers; visibility: admins; bad input names the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const updated = await c.carol.put(privateRepo, { description: 'new words' });
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.body, { success: true });
      assert.equal((await c.bob.get(privateRepo)).body.description, 'new words');
      assert.equal((await c.bob.put(privateRepo, { description: 'x' })).status, 403);
      assert.equal((await anonymous().put(privateRepo, { description: 'x' })).status, 401);
      assert.equal((await c.aliceUserRead.put(privateRepo, { description: 'x' })).status, 403);
      const missing = await c.carol.put(privateRepo, {});
      assert.equal(missing.status, 400);
      assert.match(missing.body.detail, /description/);

      const vis = `${privateRepo}/changevisibility`;
      assert.equal((await c.carol.post(vis, { visibility: 'public' })).status, 403);
      assert.equal(
        (await c.aliceWriteOnly.post(vis, { visibility: 'public' })).status,
        403,
        'needs repo:admin',
      );
      const bad = await c.alice.post(vis, { visibility: 'everyone' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.detail, /visibility/);
      const made = await c.alice.post(vis, { visibility: 'public' });
      assert.deepEqual([made.status, made.body], [200, { success: true }]);
      assert.equal((await anonymous().get(privateRepo)).status, 200);
      assert.equal((await c.superuser.post(vis, { visibility: 'private' })).status, 200);
      assert.equal((await anonymous().get(privateRepo)).status, 401);
    });

    test('changestate: READ_ONLY and MIRROR repositories refuse pushes through /v2/', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const state = `${privateRepo}/changestate`;
      const bad = await c.alice.put(state, { state: 'FROZEN' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.detail, /state/);
      assert.equal((await c.carol.put(state, { state: 'READ_ONLY' })).status, 403);
      assert.equal((await anonymous().put(state, { state: 'READ_ONLY' })).status, 401);

      for (const mode of ['READ_ONLY', 'MIRROR']) {
        const changed = await c.alice.put(state, { state: mode });
        assert.deepEqual([changed.status, changed.body], [200, { success: true }]);
        const repo = (await c.alice.get(privateRepo)).body;
        assert.deepEqual([repo.state, repo.can_write, repo.can_admin], [mode, false, true]);
        const pusher = registryAs('rcarol', 'rcarol-password-1');
        await assert.rejects(pushImage(pusher, 'rorg/private1', 'blocked'), /401|403/, mode);
        const pull = await pusher.request('GET', '/v2/rorg/private1/manifests/v1', {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        assert.equal(pull.status, 200, 'pulls still work');
      }
      assert.equal((await c.alice.put(state, { state: 'NORMAL' })).status, 200);
      await pushImage(registryAs('rcarol', 'rcarol-password-1'), 'rorg/private1', 'allowed');
    });

    test('user and robot permissions: list, get, set, delete, transitive', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const perms = `${privateRepo}/permissions/user`;
      const robot = await c.alice.put(`${perms}/rorg+deployer`, { role: 'write' });
      assert.equal(robot.status, 200, robot.text);
      assert.deepEqual(
        { ...robot.body, avatar: robot.body.avatar.kind },
        {
          role: 'write',
          name: 'rorg+deployer',
          is_robot: true,
          avatar: 'robot',
          is_org_member: true,
        },
      );
      const listed = await c.alice.get(`${perms}/`);
      assert.equal(listed.status, 200);
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(listed.body.permissions).map(([k, v]: [string, any]) => [k, v.role]),
        ),
        { ralice: 'admin', rbob: 'read', rcarol: 'write', 'rorg+deployer': 'write' },
      );
      assert.deepEqual(listed.body.permissions.rbob, {
        role: 'read',
        name: 'rbob',
        is_robot: false,
        avatar: listed.body.permissions.rbob.avatar,
        is_org_member: false,
      });
      assert.equal(listed.body.permissions.rbob.avatar.kind, 'user');
      assert.equal((await c.alice.get(`${perms}`)).status, 200, 'without the trailing slash too');

      assert.equal((await c.alice.get(`${perms}/rbob`)).body.role, 'read');
      const none = await c.alice.get(`${perms}/reve`);
      assert.equal(none.status, 400);
      assert.equal(none.body.message, 'User does not have permission for repo.');

      const foreignRobot = await c.alice.put(`${perms}/otherorg+bot`, { role: 'read' });
      assert.equal(foreignRobot.status, 400);
      assert.match(foreignRobot.body.detail, /Cannot add robot otherorg\+bot under namespace rorg/);
      const unknown = await c.alice.put(`${perms}/nobody`, { role: 'read' });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.detail, 'Invalid username: nobody');
      const badRole = await c.alice.put(`${perms}/rbob`, { role: 'owner' });
      assert.equal(badRole.status, 400);
      assert.match(badRole.body.detail, /role/);
      const noRole = await c.alice.put(`${perms}/rbob`, {});
      assert.equal(noRole.status, 400);
      assert.match(noRole.body.detail, /role/);

      // The owner of a user namespace is always admin of its repositories.
      const personal = '/repository/rbob/mine/permissions/user';
      const ownerList = await c.bob.get(`${personal}/`);
      assert.deepEqual(Object.keys(ownerList.body.permissions), ['rbob']);
      assert.ok(!('is_org_member' in ownerList.body.permissions.rbob), 'not an organization');
      for (const res of [
        await c.bob.put(`${personal}/rbob`, { role: 'read' }),
        await c.bob.delete(`${personal}/rbob`),
      ]) {
        assert.equal(res.status, 400);
        assert.equal(res.body.detail, 'Namespace owner must always be admin.');
      }

      const transitive = await c.alice.get(`${perms}/rdave/transitive`);
      assert.equal(transitive.status, 200);
      assert.deepEqual(transitive.body, { permissions: [{ role: 'read' }] });
      assert.equal((await c.alice.get(`${perms}/reve/transitive`)).status, 404);
      assert.equal((await c.alice.get(`${perms}/nobody/transitive`)).status, 404);

      // The robot pulls with its grant; it cannot call /api/v1.
      const robotRegistry = registryAs('rorg+deployer', robotToken);
      const pulled = await robotRegistry.request('GET', '/v2/rorg/private1/tags/list');
      assert.equal(pulled.status, 200);
      const basic = Buffer.from(`rorg+deployer:${robotToken}`).toString('base64');
      const robotApi = new QuayClient(server.url, undefined, { authorization: `Basic ${basic}` });
      assert.equal((await robotApi.get(privateRepo)).status, 401);

      assert.equal((await c.alice.delete(`${perms}/rbob`)).status, 204);
      assert.equal((await c.alice.get(`${perms}/rbob`)).status, 400);
      assert.equal((await c.alice.delete(`${perms}/rbob`)).status, 400);
      assert.equal((await c.bob.get(privateRepo)).status, 403, 'the grant is gone');
      assert.equal((await c.alice.put(`${perms}/rbob`, { role: 'read' })).status, 200);
    });

    test('team permissions: list, get, set, delete', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const teams = `${privateRepo}/permissions/team`;
      const listed = await c.alice.get(`${teams}/`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.permissions.devs.role, 'read');
      assert.equal(listed.body.permissions.devs.avatar.kind, 'team');
      const set = await c.alice.put(`${teams}/devs`, { role: 'write' });
      assert.equal(set.status, 200);
      assert.deepEqual(
        { ...set.body, avatar: set.body.avatar.kind },
        { role: 'write', name: 'devs', avatar: 'team' },
      );
      assert.deepEqual((await c.alice.get(`${teams}/devs`)).body, { role: 'write' });
      assert.equal((await c.dave.get(privateRepo)).body.can_write, true);
      const unknown = await c.alice.put(`${teams}/ghosts`, { role: 'read' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.detail, /No team ghosts in organization rorg/);
      assert.equal((await c.alice.put(`${teams}/devs`, { role: 'boss' })).status, 400);
      assert.equal((await c.alice.delete(`${teams}/devs`)).status, 204);
      const gone = await c.alice.get(`${teams}/devs`);
      assert.equal(gone.status, 400);
      assert.equal(gone.body.message, 'Team does not have permission for repo.');
      assert.equal((await c.dave.get(privateRepo)).status, 403);
      assert.equal((await c.alice.put(`${teams}/devs`, { role: 'read' })).status, 200);
    });

    test('permissions are for repository admins only', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const paths = [
        ['GET', `${privateRepo}/permissions/user/`],
        ['GET', `${privateRepo}/permissions/user/rbob`],
        ['GET', `${privateRepo}/permissions/user/rbob/transitive`],
        ['PUT', `${privateRepo}/permissions/user/rbob`],
        ['DELETE', `${privateRepo}/permissions/user/rbob`],
        ['GET', `${privateRepo}/permissions/team/`],
        ['GET', `${privateRepo}/permissions/team/devs`],
        ['PUT', `${privateRepo}/permissions/team/devs`],
        ['DELETE', `${privateRepo}/permissions/team/devs`],
      ] as const;
      const expect: Array<[QuayClient, number, string]> = [
        [anonymous(), 401, 'anonymous'],
        [c.bob, 403, 'reader'],
        [c.carol, 403, 'writer'],
        [c.dave, 403, 'team member'],
        [c.member, 403, 'organization member'],
        [c.eve, 403, 'other organization'],
        [c.aliceWriteOnly, 403, 'token without repo:admin'],
      ];
      for (const [method, path] of paths)
        for (const [client, status, who] of expect) {
          const res = await client.request(method, path, method === 'PUT' ? { role: 'read' } : undefined);
          assert.equal(res.status, status, `${who} ${method} ${path}`);
        }
      assert.equal((await c.superuser.get(`${privateRepo}/permissions/user/`)).status, 200);
      assert.equal((await c.eve.get(`/repository/${org}/absent/permissions/user/`)).status, 403);
      assert.equal((await c.alice.get(`/repository/${org}/absent/permissions/user/`)).status, 404);
    });

    test('delete: admins only; manifests, tags and grants go; the name can be used again', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { db } = server;
      const repo = (await server.services.repositories.find('rorg/private1'))!;
      assert.equal((await c.carol.delete(privateRepo)).status, 403);
      assert.equal((await c.aliceWriteOnly.delete(privateRepo)).status, 403);
      assert.equal((await anonymous().delete(privateRepo)).status, 401);
      assert.equal((await c.eve.delete(privateRepo)).status, 403);
      const deleted = await c.alice.delete(privateRepo);
      assert.equal(deleted.status, 204);
      assert.equal(deleted.text, '');
      assert.equal((await c.alice.get(privateRepo)).status, 404);
      assert.equal((await c.eve.get(privateRepo)).status, 403);
      const left = async (table: 'tags' | 'manifests' | 'repository_grants') =>
        (await db.selectFrom(table).select('repository_id').where('repository_id', '=', repo.id).execute())
          .length;
      assert.deepEqual(
        [await left('tags'), await left('manifests'), await left('repository_grants')],
        [0, 0, 0],
      );
      const names = (await c.alice.get(`/repository?namespace=${org}`)).body.repositories.map(
        (r: any) => r.name,
      );
      assert.ok(!names.includes('private1'));

      assert.equal((await newRepo(c.alice, 'private1')).status, 201);
      const fresh = (await c.alice.get(privateRepo)).body;
      assert.deepEqual(fresh.tags, {});
      assert.equal((await c.bob.get(privateRepo)).status, 403, 'old grants do not come back');
      const pull = await registryAs('ralice', 'ralice-password-1').request(
        'GET',
        '/v2/rorg/private1/manifests/v1',
        {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        },
      );
      assert.equal(pull.status, 404);
    });
  });
});
