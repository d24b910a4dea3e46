import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Conflict, Invalid } from '../../src/platform/errors.js';
import { anonymous, subjectOf, type User } from '../../src/identity/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

forEachDatabase((database) => {
  describe(`identity and policy on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
    });
    after(() => server?.close());

    test('admin exists once, passwords are argon2id hashes, authentication checks them', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { identity } = server.services;
      assert.deepEqual(await identity.ensureAdmin('another-password'), { created: false });
      const admin = await identity.authenticate('admin', 'admin-password-1');
      assert.equal(admin?.superuser, true);
      assert.equal(await identity.authenticate('admin', 'wrong-password'), undefined);
      assert.equal(await identity.authenticate('nobody', 'admin-password-1'), undefined);
    });

    test('stored password hashes are argon2id', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      await server.services.identity.createUser({ name: 'hashcheck', password: 'long-enough-pw' });
      const row = await server.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', (await server.services.identity.getUserByName('hashcheck')).id)
        .executeTakeFirstOrThrow();
      assert.match(row.password_hash!, /^\$argon2id\$/);
    });

    test('user names follow the namespace rule, are unique across users and organizations; passwords have a minimum length', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { identity } = server.services;
      for (const bad of ['A', 'Upper', 'a', 'has space', '-lead', 'x/y', '..']) {
        await assert.rejects(identity.createUser({ name: bad, password: 'long-enough-pw' }), Invalid, bad);
      }
      await assert.rejects(identity.createUser({ name: 'shortpw', password: 'short' }), Invalid);
      const alice = await identity.createUser({ name: 'alice', password: 'alice-password' });
      await assert.rejects(identity.createUser({ name: 'alice', password: 'alice-password' }), Conflict);
      await assert.rejects(identity.createOrganization({ name: 'alice', owner: alice }), Conflict);
      await identity.setUserEnabled('alice', false);
      assert.equal(await identity.authenticate('alice', 'alice-password'), undefined);
      await identity.setUserEnabled('alice', true);
      assert.equal((await identity.authenticate('alice', 'alice-password'))?.name, 'alice');
    });

    test('policy: owners, organization roles, explicit grants, visibility and superusers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { identity, policy, repositories } = server.services;
      const users: Record<string, User> = {};
      for (const name of ['owner', 'orgadmin', 'creator', 'member', 'reader', 'writer', 'stranger']) {
        users[name] = await identity.createUser({ name, password: `${name}-password` });
      }
      const root = subjectOf((await identity.authenticate('admin', 'admin-password-1'))!);
      const org = await identity.createOrganization({ name: 'acme', owner: users.orgadmin! });
      await identity.setMember('acme', 'creator', 'creator');
      await identity.setMember('acme', 'member', 'member');
      const repo = await repositories.ensure('acme/app', subjectOf(users.creator!));
      await identity.grantRepository(repo.id, users.reader!.id, 'read');
      await identity.grantRepository(repo.id, users.writer!.id, 'write');
      const target = await repositories.target('acme/app');
      assert.equal(target.visibility, 'private');
      const role = async (name: string) => policy.repositoryRole(subjectOf(users[name]!), target);
      assert.equal(await role('orgadmin'), 'admin');
      assert.equal(
        await role('creator'),
        'admin',
        'the creator of a repository in an organization administers it',
      );
      assert.equal(await role('member'), undefined);
      assert.equal(await role('reader'), 'read');
      assert.equal(await role('writer'), 'write');
      assert.equal(await role('stranger'), undefined);
      assert.equal(await policy.repositoryRole(anonymous, target), undefined);
      assert.equal(await policy.repositoryRole(root, target), 'admin');
      assert.deepEqual([...(await policy.registryActions(subjectOf(users.reader!), target))], ['pull']);
      assert.deepEqual([...(await policy.registryActions(subjectOf(users.writer!), target))].sort(), [
        'delete',
        'pull',
        'push',
      ]);

      await repositories.setVisibility('acme/app', 'public');
      const publicTarget = await repositories.target('acme/app');
      assert.equal(await policy.repositoryRole(anonymous, publicTarget), 'read');
      assert.equal(await policy.repositoryRole(subjectOf(users.stranger!), publicTarget), 'read');
      assert.equal(await policy.repositoryRole(subjectOf(users.writer!), publicTarget), 'write');

      assert.equal(await policy.canCreateRepository(subjectOf(users.owner!), 'owner'), true);
      assert.equal(await policy.canCreateRepository(subjectOf(users.owner!), 'acme'), false);
      assert.equal(await policy.canCreateRepository(subjectOf(users.creator!), 'acme'), true);
      assert.equal(await policy.canCreateRepository(subjectOf(users.member!), 'acme'), false);
      assert.equal(await policy.canCreateRepository(subjectOf(users.stranger!), 'owner'), false);
      assert.equal(await policy.canCreateRepository(root, 'owner'), true);
      assert.equal(await policy.canCreateRepository(anonymous, 'owner'), false);
      assert.equal(await policy.canCreateRepository(root, 'no-such-namespace'), false);
      const fresh = await repositories.target('owner/new');
      assert.deepEqual([...(await policy.registryActions(subjectOf(users.owner!), fresh))].sort(), [
        'delete',
        'pull',
        'push',
      ]);
      assert.deepEqual([...(await policy.registryActions(subjectOf(users.stranger!), fresh))], []);
      assert.ok(org.id);
    });
  });
});
