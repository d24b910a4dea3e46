// Organizations, members, collaborators, teams and permission prototypes through /api/v1, on every test database.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { subjectOf } from '../../src/identity/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pushImage } from './push.js';

type Caller = 'anonymous' | 'member' | 'teamMember' | 'admin' | 'other' | 'noOrgScope' | 'superuser';
const callers: Caller[] = ['anonymous', 'member', 'teamMember', 'admin', 'other', 'noOrgScope', 'superuser'];

/** Statuses Quay answers on endpoints that need organization admin. */
const adminOnly = {
  anonymous: 401,
  member: 403,
  teamMember: 403,
  admin: 200,
  other: 403,
  noOrgScope: 403,
  superuser: 200,
} as const;

/** Asserts a 400 ApiError whose message names `field`. */
function assertBadRequest(res: QuayResponse<any>, field: string | RegExp, what: string): void {
  assert.equal(res.status, 400, `${what}: ${res.text}`);
  assert.equal(res.body.error_type, 'invalid_request', what);
  assert.equal(res.body.error_message, res.body.detail, what);
  if (typeof field === 'string')
    assert.ok(String(res.body.detail).includes(field), `${what}: ${res.body.detail}`);
  else assert.match(String(res.body.detail), field, what);
}

/** Pushes a one-layer image as `creds` under v1, creating the repository on first push. */
async function pushAs(server: TestServer, creds: { username: string; password: string }, name: string) {
  await pushImage(new RegistryClient(server.url, creds), name, 'v1');
}

forEachDatabase((database) => {
  describe(`Quay organizations, teams and prototypes on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    const as = {} as Record<Caller, QuayClient>;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      as.anonymous = new QuayClient(server.url);
      as.admin = (await userWithToken(server, 'acmeadmin')).client;
      as.member = (await userWithToken(server, 'plainmember')).client;
      as.teamMember = (await userWithToken(server, 'devmember')).client;
      as.other = (await userWithToken(server, 'globexadmin')).client;
      as.noOrgScope = (
        await userWithToken(server, 'acmeadmin', ['repo:admin', 'repo:create', 'user:admin'])
      ).client;
      as.superuser = (await userWithToken(server, 'admin')).client;

      assert.equal(
        (await as.admin.post('/organization/', { name: 'acme', email: 'ops@acme.test' })).status,
        201,
      );
      assert.equal((await as.other.post('/organization/', { name: 'globex' })).status, 201);
      for (const [team, role, member] of [
        ['readers', 'member', 'plainmember'],
        ['devs', 'creator', 'devmember'],
      ] as const) {
        assert.equal((await as.admin.put(`/organization/acme/team/${team}`, { role })).status, 200);
        assert.equal((await as.admin.put(`/organization/acme/team/${team}/members/${member}`)).status, 200);
      }
      assert.equal((await as.admin.put('/organization/acme/robots/builder')).status, 201);
    });
    after(() => server?.close());

    test('POST /organization/ creates an organization owned by the caller: 201 "Created"', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client } = await userWithToken(server, 'founder');
      const res = await client.request('POST', '/organization/', { name: 'newco', email: 'hi@newco.test' });
      assert.equal(res.status, 201);
      assert.equal(res.text, '"Created"');
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const org = await client.get('/organization/newco');
      assert.equal(org.status, 200);
      assert.equal(org.body.is_admin, true);
      assert.equal(org.body.email, 'hi@newco.test');
      assert.deepEqual(org.body.ordered_teams, ['owners']);
      assert.equal(org.body.teams.owners.role, 'admin');
      assert.equal(org.body.teams.owners.member_count, 1);
      // The slash-less form Quay clients also use.
      assert.equal((await client.post('/organization', { name: 'newco2' })).status, 201);

      assert.equal((await as.anonymous.post('/organization/', { name: 'anonco' })).status, 401);
      const { client: readOnly } = await userWithToken(server, 'founder', ['user:read', 'org:admin']);
      assert.equal(
        (await readOnly.post('/organization/', { name: 'scopeco' })).status,
        403,
        'needs user:admin',
      );
      assert.equal((await as.superuser.post('/organization/', { name: 'superco' })).status, 201);
    });

    test('POST /organization/ refuses bad input with a 400 naming the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assertBadRequest(await as.admin.post('/organization/', {}), 'name', 'missing name');
      assertBadRequest(await as.admin.post('/organization/', { name: 'Bad Name' }), 'name', 'invalid name');
      assertBadRequest(await as.admin.post('/organization/', { name: 7 }), 'name', 'name not a string');
      assertBadRequest(
        await as.admin.post('/organization/', { name: 'acme' }),
        'A user or organization with this name already exists',
        'existing organization',
      );
      assertBadRequest(
        await as.admin.post('/organization/', { name: 'plainmember' }),
        'already exists',
        'user name',
      );
      assertBadRequest(
        await as.admin.post('/organization/', { name: 'mailco', email: 'nope' }),
        'email',
        'bad email',
      );
      assertBadRequest(
        await as.admin.post('/organization/', { name: 'mailco', email: 'ops@acme.test' }),
        'email',
        'e-mail of another namespace',
      );
      assert.equal((await as.admin.get('/organization/mailco')).status, 404);
    });

    test('GET /organization/{org} is public; email, teams and settings only for those entitled', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const views = Object.fromEntries(
        await Promise.all(callers.map(async (c) => [c, await as[c].get('/organization/acme')] as const)),
      ) as Record<Caller, QuayResponse<any>>;
      for (const c of callers) {
        assert.equal(views[c].status, 200, c);
        assert.equal(views[c].body.name, 'acme', c);
        assert.equal(views[c].body.avatar.kind, 'org', c);
      }
      const expected: Record<Caller, { admin: boolean; member: boolean }> = {
        anonymous: { admin: false, member: false },
        member: { admin: false, member: true },
        teamMember: { admin: false, member: true },
        admin: { admin: true, member: true },
        other: { admin: false, member: false },
        noOrgScope: { admin: false, member: true },
        superuser: { admin: true, member: true },
      };
      for (const c of callers) {
        const body = views[c].body;
        assert.equal(body.is_admin, expected[c].admin, `${c} is_admin`);
        assert.equal(body.is_member, expected[c].member, `${c} is_member`);
        assert.equal(body.email, expected[c].admin ? 'ops@acme.test' : '', `${c} email`);
        assert.equal('teams' in body, expected[c].member, `${c} teams`);
        assert.equal('ordered_teams' in body, expected[c].member, `${c} ordered_teams`);
        assert.equal('tag_expiration_s' in body, expected[c].admin, `${c} tag_expiration_s`);
        assert.equal('quotas' in body, expected[c].member, `${c} quotas`);
        assert.equal('quota_report' in body, expected[c].member, `${c} quota_report`);
      }
      const admin = views.admin.body;
      assert.deepEqual(admin.ordered_teams, ['owners', 'readers', 'devs'], 'teams in creation order');
      assert.equal(admin.tag_expiration_s, 1209600);
      assert.deepEqual(Object.keys(admin.teams.devs).sort(), [
        'avatar',
        'can_view',
        'description',
        'is_synced',
        'member_count',
        'name',
        'repo_count',
        'role',
      ]);
      assert.equal(admin.teams.devs.role, 'creator');
      assert.equal(admin.teams.devs.avatar.kind, 'team');
      // A member may view only the teams it is in.
      const teamView = views.teamMember.body.teams;
      assert.equal(teamView.devs.can_view, true);
      assert.equal(teamView.readers.can_view, false);
      assert.equal(teamView.owners.can_view, false);

      // Quotas: members see the organization's quota and its usage, as Quay's org_view shows them.
      assert.deepEqual(admin.quotas, [], 'no quota yet');
      assert.deepEqual(Object.keys(admin.quota_report).sort(), [
        'backfill_status',
        'configured_quota',
        'quota_bytes',
        'running_backfill',
      ]);
      assert.equal(admin.quota_report.configured_quota, null);
      const { quotas } = server.services;
      const quota = await quotas.create('acme', 10_000);
      const limit = await quotas.addLimit('acme', String(quota.id), {
        type: 'Warning',
        thresholdPercent: 80,
      });
      const usage = (await quotas.report('acme')).usageBytes;
      for (const c of ['member', 'admin'] as const) {
        const body = (await as[c].get('/organization/acme')).body;
        assert.deepEqual(
          body.quotas,
          [
            {
              id: quota.id,
              limit_bytes: 10_000,
              limits: [{ id: limit.id, type: 'Warning', limit_percent: 80 }],
            },
          ],
          c,
        );
        assert.deepEqual(
          body.quota_report,
          {
            quota_bytes: usage,
            configured_quota: 10_000,
            running_backfill: 'complete',
            backfill_status: 'complete',
          },
          c,
        );
      }
      assert.ok(!('quotas' in (await as.other.get('/organization/acme')).body), 'outsiders do not see it');
      await quotas.delete('acme', String(quota.id));
      assert.equal((await as.anonymous.get('/organization/nosuchorg')).status, 404);
      assert.equal((await as.superuser.get('/organization/nosuchorg')).status, 404);
    });

    test("PUT /organization/{org} changes e-mail and tag expiration (Quay's allowed values)", async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const res = await as.admin.put('/organization/acme', {
        email: 'team@acme.test',
        tag_expiration_s: 604800,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.email, 'team@acme.test');
      assert.equal(res.body.tag_expiration_s, 604800);
      assert.ok(res.body.teams.owners, 'the reply is the organization view');
      assert.equal((await as.admin.get('/organization/acme')).body.tag_expiration_s, 604800);
      for (const seconds of [0, 86400, 1209600, 2419200])
        assert.equal(
          (await as.admin.put('/organization/acme', { tag_expiration_s: seconds })).status,
          200,
          `${seconds}`,
        );

      assertBadRequest(
        await as.admin.put('/organization/acme', { tag_expiration_s: 1234 }),
        'tag_expiration_s',
        'odd',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme', { tag_expiration_s: -1 }),
        'tag_expiration_s',
        '< 0',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme', { tag_expiration_s: 'x' }),
        'tag_expiration_s',
        'type',
      );
      assertBadRequest(await as.admin.put('/organization/acme', { email: 'not-an-email' }), 'email', 'email');
      assertBadRequest(
        await as.admin.put('/organization/acme', { email: 'plainmember@example.com' }),
        'email',
        'in use',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme', { invoice_email: 'yes' }),
        'invoice_email',
        'bool',
      );
      assert.equal(
        (await as.admin.get('/organization/acme')).body.email,
        'team@acme.test',
        'nothing changed',
      );
      assert.equal((await as.admin.put('/organization/acme', { tag_expiration_s: 1209600 })).status, 200);
    });

    test('authorization matrix: anonymous, member, team member, admin, other org, token without org:admin, superuser', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const robotsForMembers = { ...adminOnly, member: 200, teamMember: 200, noOrgScope: 200 };
      const teamViewers = { ...adminOnly, teamMember: 200 };
      /** Refusals only: for these writes the allowed callers are exercised in their own tests. */
      const refusals = { ...adminOnly, admin: undefined, superuser: undefined };
      const matrix: Array<[string, string, unknown, Partial<Record<Caller, number | undefined>>]> = [
        ['GET', '/organization/acme', undefined, Object.fromEntries(callers.map((c) => [c, 200]))],
        ['PUT', '/organization/acme', { tag_expiration_s: 1209600 }, adminOnly],
        ['DELETE', '/organization/acme', undefined, refusals],
        ['GET', '/organization/acme/members', undefined, adminOnly],
        ['GET', '/organization/acme/members/devmember', undefined, adminOnly],
        ['DELETE', '/organization/acme/members/devmember', undefined, refusals],
        ['GET', '/organization/acme/collaborators', undefined, adminOnly],
        ['PUT', '/organization/acme/team/matrix', { role: 'member' }, adminOnly],
        ['DELETE', '/organization/acme/team/devs', undefined, refusals],
        ['GET', '/organization/acme/team/devs/members', undefined, teamViewers],
        ['PUT', '/organization/acme/team/devs/members/plainmember', undefined, refusals],
        ['DELETE', '/organization/acme/team/devs/members/devmember', undefined, refusals],
        ['GET', '/organization/acme/team/devs/permissions', undefined, adminOnly],
        ['GET', '/organization/acme/robots', undefined, robotsForMembers],
        ['GET', '/organization/acme/robots/builder', undefined, adminOnly],
        ['PUT', '/organization/acme/robots/intruder', undefined, refusals],
        ['DELETE', '/organization/acme/robots/builder', undefined, refusals],
        ['POST', '/organization/acme/robots/builder/regenerate', undefined, adminOnly],
        ['GET', '/organization/acme/robots/builder/permissions', undefined, adminOnly],
        ['GET', '/organization/acme/prototypes', undefined, adminOnly],
        [
          'POST',
          '/organization/acme/prototypes',
          { role: 'read', delegate: { kind: 'team', name: 'readers' } },
          refusals,
        ],
        [
          'PUT',
          '/organization/acme/prototypes/00000000-0000-0000-0000-000000000000',
          { role: 'read' },
          refusals,
        ],
        ['DELETE', '/organization/acme/prototypes/00000000-0000-0000-0000-000000000000', undefined, refusals],
      ];
      const failures: string[] = [];
      for (const [method, path, body, expected] of matrix) {
        for (const caller of callers) {
          const want = expected[caller];
          if (want === undefined) continue;
          const res = await as[caller].request(method, path, body);
          if (res.status !== want)
            failures.push(`${caller} ${method} ${path}: ${res.status}, want ${want} ${res.text}`);
          if (res.status === 401 || res.status === 403) {
            if (res.body?.error_type === undefined)
              failures.push(`${caller} ${method} ${path}: not an ApiError`);
          }
        }
      }
      assert.deepEqual(failures, []);
      // Nothing the refused callers tried took effect.
      assert.equal((await as.admin.get('/organization/acme/robots/intruder')).status, 400);
      assert.equal((await as.admin.get('/organization/acme/members/devmember')).status, 200);
      assert.equal((await as.admin.get('/organization/acme/prototypes')).body.prototypes.length, 0);
    });

    test('a missing organization looks forbidden to outsiders and missing only to superusers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      for (const path of [
        '/organization/ghost/members',
        '/organization/ghost/robots',
        '/organization/ghost/prototypes',
      ]) {
        assert.equal((await as.anonymous.get(path)).status, 401, path);
        assert.equal((await as.other.get(path)).status, 403, path);
        assert.equal((await as.superuser.get(path)).status, 404, path);
      }
      assert.equal((await as.other.put('/organization/ghost/team/x', { role: 'member' })).status, 403);
      assert.equal((await as.superuser.put('/organization/ghost/team/x', { role: 'member' })).status, 404);
    });

    test('members and outside collaborators', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { identity, repositories } = server.services;
      const acmeadmin = subjectOf(await identity.getUserByName('acmeadmin'));
      const repo = await repositories.create('acme/site', acmeadmin);
      const outsider = await identity.createUser({ name: 'contractor', password: 'contractor-pw-1' });
      await identity.grantRepository(repo.id, outsider.id, 'write');
      await identity.grantRepository(repo.id, (await identity.getUserByName('plainmember')).id, 'read');
      await identity.grantRepository(
        repo.id,
        { kind: 'robot', id: (await server.services.robots.get('acme+builder')).id },
        'read',
      );

      const members = await as.admin.get('/organization/acme/members');
      assert.equal(members.status, 200);
      const byName = Object.fromEntries(members.body.members.map((m: { name: string }) => [m.name, m]));
      assert.deepEqual(Object.keys(byName).sort(), ['acmeadmin', 'devmember', 'plainmember']);
      assert.deepEqual(byName.plainmember, {
        name: 'plainmember',
        kind: 'user',
        avatar: byName.plainmember.avatar,
        teams: [{ name: 'readers', avatar: byName.plainmember.teams[0].avatar }],
        repositories: ['site'],
      });
      assert.equal(byName.plainmember.avatar.kind, 'user');
      assert.deepEqual(
        byName.acmeadmin.teams.map((t: { name: string }) => t.name),
        ['owners'],
      );
      assert.deepEqual(byName.acmeadmin.repositories, ['site'], 'the creator got admin on the repository');

      const one = await as.admin.get('/organization/acme/members/devmember');
      assert.deepEqual(
        {
          name: one.body.name,
          kind: one.body.kind,
          teams: one.body.teams.map((t: { name: string }) => t.name),
        },
        { name: 'devmember', kind: 'user', teams: ['devs'] },
      );
      const robot = await as.admin.get('/organization/acme/members/acme+builder');
      assert.equal(robot.status, 200, robot.text);
      assert.equal(robot.body.kind, 'robot');
      assert.equal(robot.body.avatar.kind, 'robot');
      assert.deepEqual(robot.body.repositories, ['site']);
      assert.equal((await as.admin.get('/organization/acme/members/contractor')).status, 404, 'not a member');
      assert.equal((await as.admin.get('/organization/acme/members/nobody')).status, 404);
      assert.equal((await as.admin.get('/organization/acme/members/globex+bot')).status, 404);

      const collaborators = await as.admin.get('/organization/acme/collaborators');
      assert.equal(collaborators.status, 200);
      assert.deepEqual(collaborators.body.collaborators, [
        {
          kind: 'user',
          name: 'contractor',
          avatar: collaborators.body.collaborators[0].avatar,
          repositories: ['site'],
        },
      ]);

      // Removing a member takes it out of every team and revokes its grants on the organization's repositories.
      const { client: leaver } = await userWithToken(server, 'leaver');
      await identity.setMember('acme', 'leaver', 'member');
      await identity.grantRepository(repo.id, (await identity.getUserByName('leaver')).id, 'write');
      assert.equal((await leaver.get('/organization/acme')).body.is_member, true);
      assert.equal((await as.admin.delete('/organization/acme/members/leaver')).status, 204);
      assert.equal((await leaver.get('/organization/acme')).body.is_member, false);
      assert.equal(
        await server.services.policy.repositoryRole(subjectOf(await identity.getUserByName('leaver')), {
          namespace: 'acme',
          id: repo.id,
          visibility: 'private',
        }),
        undefined,
      );
      assert.equal((await as.admin.delete('/organization/acme/members/nobody')).status, 404);
      assert.equal(
        (await as.admin.delete('/organization/acme/members/acme+builder')).status,
        404,
        'robots are not removed here',
      );
      const onlyAdmin = await as.admin.delete('/organization/acme/members/acmeadmin');
      assertBadRequest(onlyAdmin, 'only organization admin', 'the only admin');
    });

    test('teams: create, update, members (users and robots), permissions, delete', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await as.admin.put('/organization/acme/team/qa', {
        role: 'member',
        description: 'testers',
      });
      assert.equal(created.status, 200, created.text);
      assert.deepEqual(created.body, {
        name: 'qa',
        description: 'testers',
        can_view: true,
        role: 'member',
        avatar: created.body.avatar,
        new_team: true,
      });
      assert.equal(created.body.avatar.kind, 'team');
      const updated = await as.admin.put('/organization/acme/team/qa', { role: 'creator' });
      assert.equal(updated.body.new_team, false);
      assert.equal(updated.body.role, 'creator');
      assert.equal(updated.body.description, 'testers', 'an absent description is kept');

      const added = await as.admin.put('/organization/acme/team/qa/members/plainmember');
      assert.equal(added.status, 200, added.text);
      assert.deepEqual(added.body, {
        name: 'plainmember',
        kind: 'user',
        is_robot: false,
        avatar: added.body.avatar,
        invited: false,
      });
      const robot = await as.admin.put('/organization/acme/team/qa/members/acme+builder');
      assert.equal(robot.body.is_robot, true);
      assert.equal(robot.body.avatar.kind, 'robot');

      const members = await as.admin.get('/organization/acme/team/qa/members');
      assert.equal(members.status, 200);
      assert.equal(members.body.name, 'qa');
      assert.equal(members.body.can_edit, true);
      assert.deepEqual(
        members.body.members.map((m: { name: string; is_robot: boolean }) => [m.name, m.is_robot]),
        [
          ['acme+builder', true],
          ['plainmember', false],
        ],
      );
      const asMember = await as.member.get('/organization/acme/team/qa/members');
      assert.equal(asMember.status, 200, 'a team member may list its team');
      assert.equal(asMember.body.can_edit, false);

      const { identity, repositories } = server.services;
      const repo = await repositories.create(
        'acme/qa-tools',
        subjectOf(await identity.getUserByName('acmeadmin')),
      );
      await identity.setGrant(repo.id, 'acme', { kind: 'team', name: 'qa' }, 'write');
      const permissions = await as.admin.get('/organization/acme/team/qa/permissions');
      assert.deepEqual(permissions.body, {
        permissions: [{ repository: { name: 'qa-tools', is_public: false }, role: 'write' }],
      });
      assert.equal((await as.admin.get('/organization/acme')).body.teams.qa.repo_count, 1);
      assert.equal((await as.admin.get('/organization/acme')).body.teams.qa.member_count, 2);

      assert.equal((await as.admin.delete('/organization/acme/team/qa/members/acme+builder')).status, 204);
      assert.equal((await as.admin.delete('/organization/acme/team/qa/members/plainmember')).status, 204);
      assert.equal((await as.admin.get('/organization/acme/team/qa/members')).body.members.length, 0);
      assert.equal((await as.admin.delete('/organization/acme/team/qa')).status, 204);
      assert.equal((await as.admin.get('/organization/acme/team/qa/members')).status, 404);
      assert.equal((await as.admin.get('/organization/acme/team/qa/permissions')).status, 404);
      assert.ok(!('qa' in (await as.admin.get('/organization/acme')).body.teams));
    });

    test("teams refuse bad input: 400 naming the field or Quay's message", async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assertBadRequest(await as.admin.put('/organization/acme/team/qa2', {}), 'role', 'missing role');
      assertBadRequest(
        await as.admin.put('/organization/acme/team/qa2', { role: 'owner' }),
        'role',
        'bad role',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme/team/Bad%20Team', { role: 'member' }),
        'teamname',
        'name',
      );
      assert.equal(
        (await as.admin.get('/organization/acme/team/qa2/members')).status,
        404,
        'nothing was created',
      );

      assertBadRequest(
        await as.admin.put('/organization/acme/team/devs/members/nobody'),
        'Unknown user',
        'unknown user',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme/team/devs/members/acme+nobody'),
        'Unknown user',
        'robot',
      );
      assert.equal((await as.other.put('/organization/globex/robots/spy')).status, 201);
      assertBadRequest(
        await as.admin.put('/organization/acme/team/devs/members/globex+spy'),
        'not a member of the organization',
        'robot of another organization',
      );
      assertBadRequest(
        await as.admin.put('/organization/acme/team/devs/members/devmember'),
        'already a member',
        'twice',
      );
      assert.equal((await as.admin.put('/organization/acme/team/nosuch/members/devmember')).status, 404);
      assertBadRequest(
        await as.admin.delete('/organization/acme/team/devs/members/plainmember'),
        'does not belong',
        'not in',
      );
      assert.equal((await as.admin.delete('/organization/acme/team/devs/members/nobody')).status, 404);
      assertBadRequest(await as.admin.delete('/organization/acme/team/nosuch'), 'nosuch', 'unknown team');
    });

    test('an admin cannot cut their own last admin team', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assertBadRequest(
        await as.admin.put('/organization/acme/team/owners', { role: 'member' }),
        'would no longer have admin',
        'demote owners',
      );
      assertBadRequest(
        await as.admin.delete('/organization/acme/team/owners'),
        'remove admin ability',
        'delete owners',
      );
      assertBadRequest(
        await as.admin.delete('/organization/acme/team/owners/members/acmeadmin'),
        'only admin team',
        'leave owners',
      );
      // With a second admin team the first may go.
      assert.equal((await as.admin.put('/organization/acme/team/admins', { role: 'admin' })).status, 200);
      assert.equal((await as.admin.put('/organization/acme/team/admins/members/acmeadmin')).status, 200);
      assert.equal((await as.admin.put('/organization/acme/team/admins', { role: 'creator' })).status, 200);
      assert.equal((await as.admin.put('/organization/acme/team/admins', { role: 'admin' })).status, 200);
      assert.equal((await as.admin.delete('/organization/acme/team/admins')).status, 204);
      assert.equal((await as.admin.get('/organization/acme')).body.is_admin, true);
    });

    test('prototypes: create, list, update, delete; applied when a repository is pushed into the organization', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const toTeam = await as.admin.post('/organization/acme/prototypes', {
        role: 'write',
        delegate: { kind: 'team', name: 'readers' },
      });
      assert.equal(toTeam.status, 200, toTeam.text);
      assert.equal(toTeam.body.activating_user, null);
      assert.deepEqual(toTeam.body.delegate, {
        name: 'readers',
        kind: 'team',
        avatar: toTeam.body.delegate.avatar,
      });
      assert.equal(toTeam.body.role, 'write');
      assert.match(toTeam.body.id, /^[0-9a-f-]{36}$/);

      const { client: outsider } = await userWithToken(server, 'reviewer');
      const forDev = await as.admin.post('/organization/acme/prototypes', {
        role: 'read',
        activating_user: { name: 'devmember' },
        delegate: { kind: 'user', name: 'reviewer' },
      });
      assert.equal(forDev.status, 200, forDev.text);
      assert.deepEqual(forDev.body.activating_user, {
        name: 'devmember',
        is_robot: false,
        kind: 'user',
        is_org_member: true,
        avatar: forDev.body.activating_user.avatar,
      });
      assert.equal(forDev.body.delegate.is_org_member, false);
      const toRobot = await as.admin.post('/organization/acme/prototypes', {
        role: 'admin',
        delegate: { kind: 'user', name: 'acme+builder' },
      });
      assert.equal(toRobot.body.delegate.is_robot, true);
      assert.equal(toRobot.body.delegate.is_org_member, true);

      const list = await as.admin.get('/organization/acme/prototypes');
      assert.deepEqual(
        list.body.prototypes.map((p: { id: string }) => p.id),
        [toTeam.body.id, forDev.body.id, toRobot.body.id],
      );
      const changed = await as.admin.put(`/organization/acme/prototypes/${toRobot.body.id}`, {
        role: 'read',
      });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.role, 'read');

      // devmember (team role creator) pushes a new repository: the prototypes for anyone and for devmember apply.
      await pushAs(server, { username: 'devmember', password: 'devmember-password-1' }, 'acme/fresh');
      const grants = await server.services.identity.listGrants(
        (await server.services.repositories.get('acme/fresh')).id,
      );
      assert.deepEqual(grants.map((g) => `${g.kind}:${g.name}:${g.role}`).sort(), [
        'robot:acme+builder:read',
        'team:readers:write',
        'user:devmember:admin',
        'user:reviewer:read',
      ]);
      assert.equal((await outsider.get('/organization/acme')).body.is_member, false);
      const teamPerms = await as.admin.get('/organization/acme/team/readers/permissions');
      assert.ok(
        teamPerms.body.permissions.some(
          (p: { repository: { name: string } }) => p.repository.name === 'fresh',
        ),
      );
      // A push by someone else applies only the catch-all prototypes.
      await pushAs(server, { username: 'acmeadmin', password: 'acmeadmin-password-1' }, 'acme/other');
      const otherGrants = await server.services.identity.listGrants(
        (await server.services.repositories.get('acme/other')).id,
      );
      assert.deepEqual(otherGrants.map((g) => `${g.kind}:${g.name}:${g.role}`).sort(), [
        'robot:acme+builder:read',
        'team:readers:write',
        'user:acmeadmin:admin',
      ]);

      for (const p of [toTeam, forDev, toRobot])
        assert.equal((await as.admin.delete(`/organization/acme/prototypes/${p.body.id}`)).status, 204);
      assert.deepEqual((await as.admin.get('/organization/acme/prototypes')).body.prototypes, []);
      assert.equal((await as.admin.delete(`/organization/acme/prototypes/${toTeam.body.id}`)).status, 404);
      assert.equal(
        (await as.admin.put(`/organization/acme/prototypes/${toTeam.body.id}`, { role: 'read' })).status,
        404,
      );
    });

    test("prototypes refuse bad input: 400 naming the field or Quay's message", async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const post = (body: unknown) => as.admin.post('/organization/acme/prototypes', body);
      assertBadRequest(await post({ delegate: { kind: 'team', name: 'readers' } }), 'role', 'missing role');
      assertBadRequest(
        await post({ role: 'owner', delegate: { kind: 'team', name: 'readers' } }),
        'role',
        'bad role',
      );
      assertBadRequest(await post({ role: 'read' }), 'delegate', 'missing delegate');
      assertBadRequest(
        await post({ role: 'read', delegate: { kind: 'group', name: 'x' } }),
        'delegate',
        'bad kind',
      );
      assertBadRequest(
        await post({ role: 'read', delegate: { kind: 'team' } }),
        'name',
        'delegate without name',
      );
      assertBadRequest(
        await post({ role: 'read', delegate: { kind: 'user', name: 'nobody' } }),
        'Missing delegate user or team',
        'unknown user',
      );
      assertBadRequest(
        await post({ role: 'read', delegate: { kind: 'team', name: 'nosuch' } }),
        'Missing delegate user or team',
        'unknown team',
      );
      assertBadRequest(
        await post({
          role: 'read',
          activating_user: { name: 'nobody' },
          delegate: { kind: 'team', name: 'readers' },
        }),
        'Unknown activating user',
        'unknown activating user',
      );
      assertBadRequest(
        await post({ role: 'read', delegate: { kind: 'user', name: 'globex+spy' } }),
        'Cannot add robot',
        'robot of another organization',
      );
      assert.deepEqual((await as.admin.get('/organization/acme/prototypes')).body.prototypes, []);
      const created = await post({ role: 'read', delegate: { kind: 'team', name: 'readers' } });
      assertBadRequest(
        await as.admin.put(`/organization/acme/prototypes/${created.body.id}`, {}),
        'role',
        'no role',
      );
      assertBadRequest(
        await as.admin.put(`/organization/acme/prototypes/${created.body.id}`, { role: 'owner' }),
        'role',
        'bad role',
      );
      assert.equal((await as.admin.delete(`/organization/acme/prototypes/${created.body.id}`)).status, 204);
    });

    test('DELETE /organization/{org} removes it with its teams, robots and repositories', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: owner } = await userWithToken(server, 'shortlived');
      assert.equal((await owner.post('/organization/', { name: 'doomed' })).status, 201);
      assert.equal((await owner.put('/organization/doomed/robots/bot')).status, 201);
      assert.equal((await owner.put('/organization/doomed/team/crew', { role: 'creator' })).status, 200);
      await pushAs(server, { username: 'shortlived', password: 'shortlived-password-1' }, 'doomed/app');
      assert.equal((await as.other.delete('/organization/doomed')).status, 403);
      const res = await owner.delete('/organization/doomed');
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.equal((await owner.get('/organization/doomed')).status, 404);
      assert.equal(await server.services.repositories.find('doomed/app'), undefined);
      assert.equal(await server.services.robots.find('doomed+bot'), undefined);
      // The name is free again, and nothing of the old organization comes back with it.
      assert.equal((await as.other.post('/organization/', { name: 'doomed' })).status, 201);
      const reborn = await as.other.get('/organization/doomed');
      assert.deepEqual(reborn.body.ordered_teams, ['owners']);
      assert.deepEqual((await as.other.get('/organization/doomed/robots')).body.robots, []);
      assert.equal((await as.superuser.delete('/organization/doomed')).status, 204);
      assert.equal((await as.superuser.delete('/organization/doomed')).status, 404);
    });

    test('the discovery document lists the organization, team and prototype operations', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const doc = await as.anonymous.get('/discovery');
      const ops = new Set<string>();
      for (const path of Object.values(doc.body.paths) as Array<Record<string, { operationId: string }>>)
        for (const op of Object.values(path)) ops.add(op.operationId);
      for (const id of [
        'createOrganization',
        'getOrganization',
        'changeOrganizationDetails',
        'deleteAdminedOrganization',
        'getOrganizationMembers',
        'getOrganizationMember',
        'removeOrganizationMember',
        'getOrganizationCollaborators',
        'updateOrganizationTeam',
        'deleteOrganizationTeam',
        'getOrganizationTeamMembers',
        'updateOrganizationTeamMember',
        'deleteOrganizationTeamMember',
        'getOrganizationTeamPermissions',
        'getOrganizationPrototypePermissions',
        'createOrganizationPrototypePermission',
        'updateOrganizationPrototypePermission',
        'deleteOrganizationPrototypePermission',
      ])
        assert.ok(ops.has(id), id);
    });
  });
});
