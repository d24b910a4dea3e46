import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { DomainEvent } from '../../src/platform/events.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

const allButSuper = [
  'repo:read',
  'repo:write',
  'repo:admin',
  'repo:create',
  'user:read',
  'user:admin',
  'org:admin',
] as const;

interface ApiError {
  detail: string;
  error_message: string;
  error_type: string;
}

/** A 400 ApiError whose message names the field. */
function assertBadInput(res: QuayResponse<ApiError>, field: string): void {
  assert.equal(res.status, 400, `${field}: ${res.text}`);
  assert.equal(res.body.error_type, 'invalid_request');
  assert.match(res.body.detail, new RegExp(field.replace('.', '\\.')), res.text);
}

function assertRefusal(res: QuayResponse<ApiError>, status: 400 | 401 | 403 | 404, detail: string): void {
  assert.equal(res.status, status, `${detail}: ${res.text}`);
  if (status === 401) assert.equal(res.body.error_type, 'invalid_token', detail);
  if (status === 403) assert.equal(res.body.error_type, 'insufficient_scope', detail);
}

/** Whether `username`/`password` may still log in to the registry (`/v2/auth` with Basic credentials). */
async function canLogIn(server: TestServer, username: string, password: string): Promise<boolean> {
  const { status } = await new RegistryClient(server.url, { username, password }).token([]);
  return status === 200;
}

forEachDatabase((database) => {
  describe(`Quay superuser API and global messages on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    let anon: QuayClient;
    let user: QuayClient;
    let orgAdmin: QuayClient;
    let superuser: QuayClient;
    let superNoScope: QuayClient;
    const events: DomainEvent[] = [];

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      anon = new QuayClient(server.url);
      user = (await userWithToken(server, 'plainuser')).client;
      orgAdmin = (await userWithToken(server, 'orgowner')).client;
      superuser = (await userWithToken(server, 'admin')).client;
      superNoScope = (await userWithToken(server, 'admin', [...allButSuper])).client;
      const { identity } = server.services;
      await identity.createOrganization({ name: 'suorg', owner: await identity.getUserByName('orgowner') });
      for (const type of [
        'user.created',
        'user.disabled',
        'organization.renamed',
        'service_key.created',
      ] as const)
        server.services.events.on(type, (e) => events.push(e));
    });
    after(() => server?.close());

    const ready = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return !skip;
    };

    test('every superuser endpoint: 401 anonymous, 403 users, org admins and tokens without super:user', async (t) => {
      if (!ready(t)) return;
      const endpoints: Array<[string, string, unknown?]> = [
        ['GET', '/superuser/users/'],
        ['POST', '/superuser/users/', { username: 'matrixuser' }],
        ['GET', '/superuser/users/plainuser'],
        ['PUT', '/superuser/users/plainuser', { enabled: false }],
        ['DELETE', '/superuser/users/plainuser'],
        ['GET', '/superuser/organizations/'],
        ['PUT', '/superuser/organizations/suorg', { name: 'stolen' }],
        ['DELETE', '/superuser/organizations/suorg'],
        ['POST', '/superuser/takeownership/suorg'],
        ['GET', '/superuser/keys'],
        ['POST', '/superuser/keys', { service: 'matrix' }],
        ['GET', '/superuser/keys/somekid'],
        ['PUT', '/superuser/keys/somekid', { name: 'x' }],
        ['DELETE', '/superuser/keys/somekid'],
        ['POST', '/superuser/approvedkeys/somekid', {}],
        ['POST', '/messages', { message: { content: 'hi', media_type: 'text/plain', severity: 'info' } }],
        ['DELETE', '/message/some-uuid'],
      ];
      for (const [method, path, body] of endpoints) {
        const what = `${method} ${path}`;
        assertRefusal(await anon.request(method, path, body), 401, what);
        for (const client of [user, orgAdmin, superNoScope])
          assertRefusal(await client.request(method, path, body), 403, what);
      }
      assert.equal(
        (await server.services.identity.findUserByName('plainuser'))?.enabled,
        true,
        'nothing changed',
      );
      assert.ok(await server.services.identity.findOrganization('suorg'));
    });

    test('users: list, create with a generated password, get, change, disable, delete', async (t) => {
      if (!ready(t)) return;
      const list = await superuser.get('/superuser/users/');
      assert.equal(list.status, 200);
      const admin = list.body.users.find((u: { username: string }) => u.username === 'admin');
      assert.deepEqual(Object.keys(admin).sort(), [
        'avatar',
        'email',
        'enabled',
        'global_readonly_super_user',
        'kind',
        'name',
        'quota_report',
        'quotas',
        'super_user',
        'username',
        'verified',
      ]);
      assert.equal(admin.kind, 'user');
      assert.equal(admin.super_user, true);
      assert.equal(admin.enabled, true);
      assert.deepEqual(admin.quotas, []);
      assert.deepEqual(admin.quota_report, {
        quota_bytes: 0,
        configured_quota: null,
        running_backfill: 'complete',
        backfill_status: 'complete',
      });
      assert.ok(
        !list.body.users.some((u: { username: string }) => u.username === 'suorg'),
        'no organizations',
      );

      // Create.
      assertBadInput(await superuser.post('/superuser/users/', {}), 'username');
      assertBadInput(await superuser.post('/superuser/users/', { username: 'Not Valid!' }), 'username');
      assertBadInput(
        await superuser.post('/superuser/users/', { username: 'newbie', email: 'no-at-sign' }),
        'email',
      );
      assertBadInput(await superuser.post('/superuser/users/', { username: 7 }), 'username');
      const created = await superuser.post('/superuser/users/', {
        username: 'newbie',
        email: 'newbie@example.com',
      });
      assert.equal(created.status, 200, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), [
        'email',
        'encrypted_password',
        'password',
        'username',
      ]);
      assert.equal(created.body.username, 'newbie');
      assert.equal(created.body.email, 'newbie@example.com');
      assert.match(created.body.password, /^[A-Z0-9]{32}$/);
      assert.ok(!String(created.body.encrypted_password).includes(created.body.password));
      assert.ok(await canLogIn(server, 'newbie', created.body.password), 'the generated password works');
      assert.equal(events.find((e) => e.type === 'user.created')?.type, 'user.created');
      const duplicate = await superuser.post('/superuser/users/', { username: 'newbie' });
      assert.equal(duplicate.status, 400);
      assert.match(duplicate.body.detail, /already exists/);
      assert.equal((await superuser.post('/superuser/users/', { username: 'suorg' })).status, 400);
      assert.equal(
        (await superuser.post('/superuser/users/', { username: 'other', email: 'newbie@example.com' }))
          .status,
        400,
      );
      const bare = await superuser.post('/superuser/users/', { username: 'bare' });
      assert.equal(bare.body.email, null);

      // Get.
      const got = await superuser.get('/superuser/users/newbie');
      assert.equal(got.status, 200);
      assert.equal(got.body.email, 'newbie@example.com');
      assert.equal(got.body.super_user, false);
      assert.equal((await superuser.get('/superuser/users/nobody-here')).status, 404);
      assert.equal(
        (await superuser.get('/superuser/users/suorg')).status,
        404,
        'an organization is not a user',
      );

      // Change.
      assertBadInput(await superuser.put('/superuser/users/newbie', { password: 'short' }), 'password');
      assertBadInput(await superuser.put('/superuser/users/newbie', { email: 'nope' }), 'email');
      assertBadInput(await superuser.put('/superuser/users/newbie', { enabled: 'perhaps' }), 'enabled');
      assertBadInput(
        await superuser.put('/superuser/users/newbie', { superuser: 'yes please' }),
        'superuser',
      );
      const changed = await superuser.put('/superuser/users/newbie', {
        password: 'a-new-password',
        email: 'n@example.org',
      });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.email, 'n@example.org');
      assert.equal(typeof changed.body.encrypted_password, 'string');
      assert.ok(await canLogIn(server, 'newbie', 'a-new-password'));
      assert.ok(!(await canLogIn(server, 'newbie', created.body.password)));
      assert.equal((await superuser.put('/superuser/users/nobody-here', { enabled: false })).status, 404);
      const onSuper = await superuser.put('/superuser/users/admin', { enabled: false });
      assert.equal(onSuper.status, 400);
      assert.equal(onSuper.body.detail, 'Cannot update a superuser');
      assert.ok(await canLogIn(server, 'admin', adminPassword));

      // Disable: no login, no token use; enable again.
      const { client: newbie } = await userWithToken(server, 'newbie');
      assert.equal((await newbie.get('/user/')).status, 200);
      const disabled = await superuser.put('/superuser/users/newbie', { enabled: false });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.enabled, false);
      assert.equal((await newbie.get('/user/')).status, 401, 'a disabled user cannot use its tokens');
      assert.ok(!(await canLogIn(server, 'newbie', 'a-new-password')), 'a disabled user cannot log in');
      const enabledOnly = await superuser.get('/superuser/users/?disabled=false');
      assert.ok(!enabledOnly.body.users.some((u: { username: string }) => u.username === 'newbie'));
      const everyone = await superuser.get('/superuser/users/?disabled=true');
      assert.ok(
        everyone.body.users.some(
          (u: { username: string; enabled: boolean }) => u.username === 'newbie' && !u.enabled,
        ),
      );
      assert.equal((await superuser.put('/superuser/users/newbie', { enabled: true })).body.enabled, true);
      assert.equal((await newbie.get('/user/')).status, 200);

      // Pages, when asked for.
      const first = await superuser.get('/superuser/users/?limit=2');
      assert.equal(first.body.users.length, 2);
      assert.equal(typeof first.body.next_page, 'string');
      const second = await superuser.get(`/superuser/users/?limit=2&next_page=${first.body.next_page}`);
      assert.notDeepEqual(
        second.body.users.map((u: { username: string }) => u.username),
        first.body.users.map((u: { username: string }) => u.username),
      );
      assertBadInput(await superuser.get('/superuser/users/?limit=101'), 'limit');
      assertBadInput(await superuser.get('/superuser/users/?limit=zero'), 'limit');

      // Promote: the user becomes a superuser, and from then on cannot be changed here.
      const promoted = await superuser.put('/superuser/users/bare', { superuser: true });
      assert.equal(promoted.body.super_user, true);
      const { client: bareClient } = await userWithToken(server, 'bare');
      assert.equal((await bareClient.get('/superuser/users/')).status, 200);
      assert.equal((await superuser.put('/superuser/users/bare', { superuser: false })).status, 400);

      // Delete: the user, its repositories and its tokens go.
      const registry = new RegistryClient(server.url, { username: 'newbie', password: 'a-new-password' });
      await registry.pushBlob('newbie/stuff', Buffer.from('some bytes'));
      assert.ok(await server.services.repositories.find('newbie/stuff'));
      const onAdmin = await superuser.delete('/superuser/users/admin');
      assert.equal(onAdmin.status, 400);
      assert.equal(onAdmin.body.detail, 'Cannot delete a superuser');
      const deleted = await superuser.delete('/superuser/users/newbie');
      assert.equal(deleted.status, 204);
      assert.equal(deleted.text, '');
      assert.equal((await superuser.get('/superuser/users/newbie')).status, 404);
      assert.equal(await server.services.repositories.find('newbie/stuff'), undefined);
      assert.equal((await newbie.get('/user/')).status, 401);
      assert.equal((await superuser.delete('/superuser/users/newbie')).status, 404);
      assert.equal((await superuser.delete('/superuser/users/suorg')).status, 404);
    });

    test('organizations: list with quotas, rename with repositories and robots, delete', async (t) => {
      if (!ready(t)) return;
      const { identity, robots } = server.services;
      const owner = await identity.getUserByName('orgowner');
      await identity.createOrganization({ name: 'renameme', owner });
      await robots.create('renameme', 'builder', { description: '' });
      const registry = new RegistryClient(server.url, {
        username: 'orgowner',
        password: 'orgowner-password-1',
      });
      const blobDigest = await registry.pushBlob('renameme/app', Buffer.from('0123456789'));
      assert.equal((await superuser.post('/organization/renameme/quota', { limit_bytes: 1000 })).status, 201);

      const list = await superuser.get('/superuser/organizations/');
      assert.equal(list.status, 200);
      const org = list.body.organizations.find((o: { name: string }) => o.name === 'renameme');
      assert.deepEqual(Object.keys(org).sort(), ['avatar', 'email', 'name', 'quota_report', 'quotas']);
      assert.equal(org.avatar.kind, 'org');
      assert.equal(org.quotas[0].limit_bytes, 1000);
      assert.deepEqual(org.quota_report, {
        quota_bytes: 10,
        configured_quota: 1000,
        running_backfill: 'complete',
        backfill_status: 'complete',
      });
      const paged = await superuser.get('/superuser/organizations/?limit=1');
      assert.equal(paged.body.organizations.length, 1);
      assert.equal(typeof paged.body.next_page, 'string');
      assertBadInput(await superuser.get('/superuser/organizations/?limit=500'), 'limit');

      // Rename.
      assertBadInput(await superuser.put('/superuser/organizations/renameme', { name: 'Bad Name' }), 'name');
      assertBadInput(
        await superuser.put('/superuser/organizations/renameme', { name: { not: 'a name' } }),
        'name',
      );
      assert.equal((await superuser.put('/superuser/organizations/renameme', { name: 'suorg' })).status, 400);
      assert.equal(
        (await superuser.put('/superuser/organizations/renameme', { name: 'plainuser' })).status,
        400,
      );
      assert.equal(
        (await superuser.put('/superuser/organizations/nosuchorg', { name: 'whatever' })).status,
        404,
      );
      const unchanged = await superuser.put('/superuser/organizations/renameme', {});
      assert.equal(unchanged.body.name, 'renameme');
      const renamed = await superuser.put('/superuser/organizations/renameme', { name: 'renamed' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'renamed');
      assert.equal(renamed.body.quotas[0].limit_bytes, 1000, 'the quota follows the organization');
      assert.equal(await identity.findOrganization('renameme'), undefined);
      assert.ok(await server.services.repositories.find('renamed/app'));
      assert.equal(await server.services.repositories.find('renameme/app'), undefined);
      const robotNames = (await robots.list('renamed')).map((r) => r.name);
      assert.deepEqual(robotNames, ['renamed+builder']);
      const pulled = await registry.request('GET', `/v2/renamed/app/blobs/${blobDigest}`);
      assert.equal(pulled.status, 200, 'the renamed repository serves its blobs');
      assert.equal(events.find((e) => e.type === 'organization.renamed')?.type, 'organization.renamed');

      // Delete.
      assert.equal((await superuser.delete('/superuser/organizations/nosuchorg')).status, 404);
      assert.equal(
        (await superuser.delete('/superuser/organizations/orgowner')).status,
        404,
        'a user is not an organization',
      );
      assert.equal((await superuser.delete('/superuser/organizations/renamed')).status, 204);
      assert.equal(await identity.findOrganization('renamed'), undefined);
      assert.equal(await server.services.repositories.find('renamed/app'), undefined);
      assert.ok(
        !(await superuser.get('/superuser/organizations/')).body.organizations.some(
          (o: { name: string }) => o.name === 'renamed',
        ),
      );
    });

    test('take ownership of an organization or of a user (which becomes an organization)', async (t) => {
      if (!ready(t)) return;
      const { identity } = server.services;
      const taken = await superuser.post('/superuser/takeownership/suorg');
      assert.equal(taken.status, 200);
      assert.deepEqual(taken.body, { namespace: 'suorg' });
      const owners = await identity.teamMembers(await identity.getTeam('suorg', 'owners'));
      assert.ok(owners.some((m) => m.name === 'admin'));
      assert.equal(
        (await superNoScope.get('/organization/suorg/quota')).status,
        200,
        'admin is now a member',
      );
      assert.equal((await superuser.post('/superuser/takeownership/suorg')).status, 200, 'twice is fine');

      const { client: victim } = await userWithToken(server, 'victim');
      assert.equal((await victim.get('/user/')).status, 200);
      const converted = await superuser.post('/superuser/takeownership/victim');
      assert.equal(converted.status, 200);
      assert.deepEqual(converted.body, { namespace: 'victim' });
      assert.equal((await identity.findNamespace('victim'))?.kind, 'organization');
      assert.equal((await victim.get('/user/')).status, 401, 'the former user can no longer act');
      assert.ok(!(await canLogIn(server, 'victim', 'victim-password-1')));
      const victimOwners = await identity.teamMembers(await identity.getTeam('victim', 'owners'));
      assert.deepEqual(
        victimOwners.map((m) => m.name),
        ['admin'],
      );

      const onSuper = await superuser.post('/superuser/takeownership/admin');
      assert.equal(onSuper.status, 400);
      assert.equal(onSuper.body.detail, 'Cannot take ownership of a superuser');
      assert.equal((await superuser.post('/superuser/takeownership/nobody-here')).status, 404);
    });

    test('service keys: created approved with the private key once, listed, changed, approved, deleted', async (t) => {
      if (!ready(t)) return;
      const future = Math.floor(Date.now() / 1000) + 3600;
      assertBadInput(await superuser.post('/superuser/keys', {}), 'service');
      assertBadInput(await superuser.post('/superuser/keys', { service: 'Not Valid' }), 'service');
      assertBadInput(await superuser.post('/superuser/keys', { service: 'svc', name: 'bad!name' }), 'name');
      assertBadInput(
        await superuser.post('/superuser/keys', { service: 'svc', expiration: 1000 }),
        'expiration',
      );
      assertBadInput(
        await superuser.post('/superuser/keys', { service: 'svc', expiration: 'soon' }),
        'expiration',
      );
      assertBadInput(
        await superuser.post('/superuser/keys', { service: 'svc', metadata: 'nope' }),
        'metadata',
      );

      const created = await superuser.post('/superuser/keys', {
        service: 'my_service',
        name: 'first key',
        expiration: future,
        metadata: { purpose: 'tests' },
        notes: 'made in a test',
      });
      assert.equal(created.status, 200, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), [
        'kid',
        'name',
        'private_key',
        'public_key',
        'service',
      ]);
      const { kid } = created.body;
      assert.match(created.body.public_key, /^-----BEGIN PUBLIC KEY-----/);
      assert.match(created.body.private_key, /^-----BEGIN RSA PRIVATE KEY-----/);
      const signature = sign('sha256', Buffer.from('payload'), createPrivateKey(created.body.private_key));
      assert.ok(
        verify('sha256', Buffer.from('payload'), createPublicKey(created.body.public_key), signature),
      );
      const row = await server.db
        .selectFrom('service_keys')
        .selectAll()
        .where('kid', '=', kid)
        .executeTakeFirstOrThrow();
      assert.ok(!('d' in JSON.parse(row.public_jwk)), 'the private part is not stored');
      assert.ok(!JSON.stringify(row).includes('PRIVATE'), 'the private key is not stored');
      assert.equal(events.find((e) => e.type === 'service_key.created')?.type, 'service_key.created');

      const list = await superuser.get('/superuser/keys');
      assert.equal(list.status, 200);
      const key = list.body.keys.find((k: { kid: string }) => k.kid === kid);
      assert.deepEqual(Object.keys(key).sort(), [
        'approval',
        'created_date',
        'expiration_date',
        'jwk',
        'kid',
        'metadata',
        'name',
        'rotation_duration',
        'service',
      ]);
      assert.equal(key.name, 'first key');
      assert.equal(key.service, 'my_service');
      assert.equal(key.jwk.kty, 'RSA');
      assert.equal(key.jwk.kid, kid);
      assert.equal(key.metadata.purpose, 'tests');
      assert.equal(key.metadata.creator, 'admin');
      assert.match(key.created_date, /GMT$/);
      assert.equal(new Date(key.expiration_date).getTime(), future * 1000);
      assert.equal(key.approval.approval_type, 'Super User API');
      assert.equal(key.approval.approver.username, 'admin');
      assert.equal(key.approval.notes, 'made in a test');
      assert.deepEqual((await superuser.get(`/superuser/keys/${kid}`)).body, key);
      assert.equal((await superuser.get('/superuser/keys/no-such-kid')).status, 404);

      // Change.
      assertBadInput(await superuser.put(`/superuser/keys/${kid}`, { expiration: 1000 }), 'expiration');
      assertBadInput(await superuser.put(`/superuser/keys/${kid}`, { name: 'no!' }), 'name');
      assertBadInput(await superuser.put(`/superuser/keys/${kid}`, { metadata: [1] }), 'metadata');
      const changed = await superuser.put(`/superuser/keys/${kid}`, {
        name: 'renamed key',
        metadata: { extra: 'yes' },
        expiration: null,
      });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.name, 'renamed key');
      assert.equal(changed.body.metadata.purpose, 'tests', 'metadata is merged');
      assert.equal(changed.body.metadata.extra, 'yes');
      assert.equal(changed.body.expiration_date, null);
      assert.equal((await superuser.put('/superuser/keys/no-such-kid', { name: 'x' })).status, 404);

      // Approval of a key a service submitted.
      const submitted = await server.services.serviceKeys.create({ service: 'other_service' });
      assert.equal((await superuser.get(`/superuser/keys/${submitted.key.kid}`)).body.approval, null);
      const approved = await superuser.post(`/superuser/approvedkeys/${submitted.key.kid}`, {
        notes: 'looks fine',
      });
      assert.equal(approved.status, 201);
      assert.equal(approved.text, '');
      const approval = (await superuser.get(`/superuser/keys/${submitted.key.kid}`)).body.approval;
      assert.equal(approval.notes, 'looks fine');
      assert.equal(approval.approver.username, 'admin');
      assert.equal(
        (await superuser.post(`/superuser/approvedkeys/${submitted.key.kid}`, {})).status,
        201,
        'again is fine',
      );
      assert.equal((await superuser.post('/superuser/approvedkeys/no-such-kid', {})).status, 404);
      assertBadInput(
        await superuser.post(`/superuser/approvedkeys/${submitted.key.kid}`, { notes: { text: 'no' } }),
        'notes',
      );

      // Delete.
      const deleted = await superuser.delete(`/superuser/keys/${kid}`);
      assert.equal(deleted.status, 204);
      assert.equal(deleted.text, '');
      assert.equal((await superuser.get(`/superuser/keys/${kid}`)).status, 404);
      assert.equal((await superuser.delete(`/superuser/keys/${kid}`)).status, 404);
    });

    test('global messages: anyone reads them, superusers create and delete them', async (t) => {
      if (!ready(t)) return;
      assert.deepEqual((await anon.get('/messages')).body, { messages: [] });
      const message = {
        content: 'Maintenance **tonight**',
        media_type: 'text/markdown',
        severity: 'warning',
      };
      assertBadInput(await superuser.post('/messages', {}), 'message');
      assertBadInput(
        await superuser.post('/messages', { message: { ...message, severity: 'panic' } }),
        'message.severity',
      );
      assertBadInput(
        await superuser.post('/messages', { message: { ...message, media_type: 'text/html' } }),
        'message.media_type',
      );
      assertBadInput(
        await superuser.post('/messages', { message: { severity: 'info', media_type: 'text/plain' } }),
        'content',
      );

      const created = await superuser.post('/messages', { message });
      assert.equal(created.status, 201);
      assert.equal(created.text, '', 'Quay answers with an empty body');
      for (const client of [anon, user, superuser]) {
        const list = await client.get('/messages');
        assert.equal(list.status, 200);
        assert.equal(list.body.messages.length, 1);
        assert.deepEqual(Object.keys(list.body.messages[0]).sort(), [
          'content',
          'media_type',
          'severity',
          'uuid',
        ]);
        assert.equal(list.body.messages[0].content, message.content);
        assert.equal(list.body.messages[0].severity, 'warning');
        assert.equal(list.body.messages[0].media_type, 'text/markdown');
      }
      const { uuid } = (await anon.get('/messages')).body.messages[0];
      assert.equal((await user.delete(`/message/${uuid}`)).status, 403);
      const deleted = await superuser.delete(`/message/${uuid}`);
      assert.equal(deleted.status, 204);
      assert.deepEqual((await anon.get('/messages')).body, { messages: [] });
      assert.equal(
        (await superuser.delete(`/message/${uuid}`)).status,
        204,
        'deleting a missing message is no error',
      );
    });

    test('the discovery document lists the superuser, quota and message endpoints', async (t) => {
      if (!ready(t)) return;
      const paths = (await anon.get('/discovery')).body.paths;
      assert.equal(paths['/api/v1/superuser/users/'].get.operationId, 'listAllUsers');
      assert.deepEqual(paths['/api/v1/superuser/keys'].post.security, [{ oauth2_implicit: ['super:user'] }]);
      assert.equal(paths['/api/v1/messages'].post.operationId, 'createGlobalMessage');
      assert.equal(paths['/api/v1/organization/{orgname}/quota'].get.operationId, 'listOrganizationQuota');
      assert.equal(
        paths['/api/v1/superuser/organization/{namespace}/quota'].post.operationId,
        'createOrganizationQuotaSuperUser',
      );
    });
  });
});
