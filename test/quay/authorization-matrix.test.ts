// The authorization matrix of /api/v1 (issue 3): every operation that /discovery lists, called by
// every kind of caller, answers as the role it requires says; and no private name leaks to callers
// that may not read it, in a list or in a refusal. Runs on every test database.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { allScopes, type Scope } from '../../src/identity/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { startHttpReceiver } from '../support/receivers.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { pushImage } from './push.js';

/**
 * What an operation requires. `public`: anyone, signed in or not. `repo:*`: that role on the
 * repository in the path (acme/secret unless the row says otherwise). `org:*`: that role in the
 * organization acme (team roles; superusers are admins). `team:view`: admin of acme or member of
 * the team. `self:*`: the caller's own account through a credential with user:read / user:admin.
 * `superuser`: a superuser whose credential carries super:user.
 */
type Need =
  | 'public'
  | 'repo:read'
  | 'repo:write'
  | 'repo:admin'
  | 'org:member'
  | 'org:creator'
  | 'org:admin'
  | 'team:view'
  | 'self:read'
  | 'self:admin'
  | 'superuser';

/** A role and every lesser one of its ladder: `repo:write` includes `repo:read`. */
const ladder = <R extends string>(kind: 'repo' | 'org', roles: readonly R[], role: R): Need[] =>
  roles.slice(0, roles.indexOf(role) + 1).map((r) => `${kind}:${r}` as Need);
const repo = (role: 'read' | 'write' | 'admin') => ladder('repo', ['read', 'write', 'admin'], role);
const org = (role: 'member' | 'creator' | 'admin') => ladder('org', ['member', 'creator', 'admin'], role);
const self: Need[] = ['self:read', 'self:admin'];

interface Caller {
  name: string;
  /** Whose OAuth token; absent for the anonymous caller and the robot. */
  user?: string;
  /** The token's scopes (every scope when absent). */
  scopes?: Scope[];
  /** Sends the robot acme+bot's docker-login credential (Basic) instead of a token. */
  robot?: true;
  /** What this caller is entitled to in the fixture world. */
  has: Need[];
}

/** Everyone who calls; the roles follow from the fixture built in `before`. */
const callers: Caller[] = [
  { name: 'anonymous', has: [] },
  // Robots log in to the registry only: on /api/v1 their Basic credential counts for nothing.
  { name: 'robot acme+bot (Basic)', robot: true, has: [] },
  { name: 'reader', user: 'reader', has: [...repo('read'), ...self] },
  { name: 'writer', user: 'writer', has: [...repo('write'), ...self] },
  { name: 'repoadmin', user: 'repoadmin', has: [...repo('admin'), ...self] },
  { name: 'acmeadmin', user: 'acmeadmin', has: [...repo('admin'), ...org('admin'), 'team:view', ...self] },
  { name: 'teammate', user: 'teammate', has: [...repo('read'), ...org('member'), 'team:view', ...self] },
  { name: 'outsider', user: 'outsider', has: [...self] },
  {
    name: 'superuser',
    user: 'admin',
    has: [...repo('admin'), ...org('admin'), 'team:view', ...self, 'superuser'],
  },
  // Tokens lacking the scope an operation needs.
  { name: 'acmeadmin with repo:read only', user: 'acmeadmin', scopes: ['repo:read'], has: repo('read') },
  { name: 'writer with user:read only', user: 'writer', scopes: ['user:read'], has: ['self:read'] },
  {
    name: 'superuser without super:user',
    user: 'admin',
    scopes: allScopes.filter((s) => s !== 'super:user'),
    has: [...self],
  },
];

const entitled = (caller: Caller, need: Need | Need[]) =>
  (Array.isArray(need) ? need : [need]).every((n) => n === 'public' || caller.has.includes(n));
/** Callers that may not read acme/secret: nothing they are shown may name it. */
const mayNotRead = (caller: Caller) => !caller.has.includes('repo:read');
/** Callers to whom a missing repository of acme is a 404 rather than a refusal. */
const administersAcme = (caller: Caller) => caller.has.includes('org:admin');

/** The fixture's ids, read back from the API after creating them. */
interface Fixture {
  digest: string;
  openDigest: string;
  labelId: string;
  notificationUuid: string;
  orgNotificationUuid: string;
  prototypeId: string;
  clientId: string;
  orgTokenUuid: string;
  quotaId: string;
  limitId: string;
  kid: string;
  messageUuid: string;
  /** An active custom-git build trigger of acme/secret. */
  triggerUuid: string;
  /** A waiting repository build of acme/secret (the scheduler does not run here). */
  buildUuid: string;
  robotToken: string;
  /** Per user: an app token, a quota on its namespace and a limit of it, a namespace notification. */
  users: Record<string, { appToken: string; quotaId: string; limitId: string; notification: string }>;
}

interface Ctx {
  server: TestServer;
  f: Fixture;
  /** Full-scope clients of the fixture's users. */
  full: Record<string, QuayClient>;
  /** A fresh number for throwaway names. */
  n(): number;
  receiverUrl: string;
}

type Params = Record<string, string>;
interface Prepared {
  params?: Params;
  body?: unknown;
}

interface Row {
  need: Need | Need[];
  /** JSON body for POST and PUT (`{}` when absent). */
  body?: unknown | ((ctx: Ctx) => unknown);
  query?: string;
  /** Path parameters over the defaults. */
  params?: (ctx: Ctx, caller: Caller) => Params;
  /**
   * Runs before each call: throwaway resources for destructive operations (so the fixture
   * survives), made only for callers entitled to destroy them; refused callers aim at the fixture.
   */
  prepare?: (ctx: Ctx, caller: Caller, entitled: boolean) => Promise<Prepared>;
  /** Statuses other than 2xx an entitled caller may get (documented answers to the minimal body). */
  ok?: number[];
  /** The exact statuses an entitled caller gets, instead of 2xx. */
  expect?: number[];
}

async function must<T = any>(res: Promise<QuayResponse<T>>, status: number, what: string): Promise<T> {
  const r = await res;
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text}`);
  return r.body;
}

/** A private repository of acme with the grants acme/secret has (readers, writers, admins, team, robot). */
async function cloneRepository(ctx: Ctx, name = `tmp${ctx.n()}`): Promise<string> {
  const acme = ctx.full.acmeadmin!;
  await must(
    acme.post('/repository', { namespace: 'acme', repository: name, visibility: 'private', description: '' }),
    201,
    `create acme/${name}`,
  );
  const perms = `/repository/acme/${name}/permissions`;
  for (const [who, role] of [
    ['reader', 'read'],
    ['writer', 'write'],
    ['repoadmin', 'admin'],
    ['acme+bot', 'write'],
  ])
    await must(acme.put(`${perms}/user/${who}`, { role }), 200, `grant ${who} on acme/${name}`);
  await must(acme.put(`${perms}/team/devs`, { role: 'read' }), 200, `grant devs on acme/${name}`);
  return name;
}

/** An organization with acme's roles: acmeadmin owns it, teammate is in its team devs. */
async function cloneOrganization(ctx: Ctx, name = `tmporg${ctx.n()}`): Promise<string> {
  const acme = ctx.full.acmeadmin!;
  await must(acme.post('/organization/', { name }), 201, `create ${name}`);
  await must(acme.put(`/organization/${name}/team/devs`, { role: 'member' }), 200, `team of ${name}`);
  await must(acme.put(`/organization/${name}/team/devs/members/teammate`), 200, `member of ${name}`);
  return name;
}

async function orgWithQuota(ctx: Ctx): Promise<{ orgname: string; quota_id: string }> {
  const orgname = await cloneOrganization(ctx);
  const su = ctx.full.admin!;
  await must(su.post(`/organization/${orgname}/quota`, { limit_bytes: 1 << 30 }), 201, 'quota');
  const [quota] = await must<any[]>(su.get(`/organization/${orgname}/quota`), 200, 'quotas');
  return { orgname, quota_id: String(quota.id) };
}

async function userWithQuota(ctx: Ctx): Promise<{ namespace: string; quota_id: string }> {
  const namespace = `tmpuser${ctx.n()}`;
  await ctx.server.services.identity.createUser({ name: namespace });
  const su = ctx.full.admin!;
  await must(su.post(`/superuser/users/${namespace}/quota`, { limit_bytes: 1 << 30 }), 201, 'quota');
  const [quota] = await must<any[]>(su.get(`/superuser/users/${namespace}/quota`), 200, 'quotas');
  return { namespace, quota_id: String(quota.id) };
}

/** Puts bystander in acme's team bystanders (a second add is Quay's 400 "already a member"). */
async function bystanderInTeam(ctx: Ctx): Promise<void> {
  const res = await ctx.full.acmeadmin!.put('/organization/acme/team/bystanders/members/bystander');
  if (res.status !== 200 && !(res.status === 400 && /already a member/.test(res.text)))
    throw new Error(`bystander in bystanders: ${res.status} ${res.text}`);
}

/** A tag of acme/secret made for one call. */
async function throwawayTag(ctx: Ctx): Promise<string> {
  const tag = `tmp${ctx.n()}`;
  await must(
    ctx.full.acmeadmin!.put(`/repository/acme/secret/tag/${tag}`, { manifest_digest: ctx.f.digest }),
    201,
    `tag ${tag}`,
  );
  return tag;
}

const notificationBody = (ctx: Ctx) => ({
  event: 'repo_push',
  method: 'webhook',
  config: { url: `${ctx.receiverUrl}/hook` },
  eventConfig: {},
  title: 'matrix',
});
const quotaNotificationBody = (ctx: Ctx) => ({ ...notificationBody(ctx), event: 'quota_warning' });
const mirrorBody = (ctx: Ctx) => ({
  external_reference: `${new URL(ctx.receiverUrl).host}/library/upstream`,
  sync_interval: 3600,
  sync_start_date: '2030-01-01T00:00:00Z',
  root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['latest'] },
  skopeo_timeout_interval: 300,
  robot_username: 'acme+bot',
});
const proxyBody = (ctx: Ctx) => ({
  upstream_registry: `${new URL(ctx.receiverUrl).host}/upstream`,
  insecure: true,
});
const triggerConfig = { build_source: 'https://git.example.test/acme/app.git' };
/** An inactive build trigger of acme/secret made for one call. */
async function throwawayTrigger(ctx: Ctx): Promise<string> {
  const created = await must(
    ctx.full.acmeadmin!.post('/repository/acme/secret/trigger/', { service: 'custom-git' }),
    201,
    'build trigger',
  );
  return created.id;
}
let limitPercent = 0;
const quotaSize = { limit_bytes: 10 * 1024 ** 3 };

/**
 * One row per operation of /discovery: the role it requires, and what a minimal valid call sends.
 * An operation without a row fails the test, so a new endpoint must say who may call it.
 */
const rows: Record<string, Row> = {
  // discovery, errors, messages
  discovery: { need: 'public' },
  getErrorDescription: { need: 'public' },
  getGlobalMessages: { need: 'public' },
  createGlobalMessage: {
    need: 'superuser',
    body: { message: { content: 'matrix', media_type: 'text/plain', severity: 'info' } },
  },
  deleteGlobalMessage: {
    need: 'superuser',
    params: (ctx) => ({ uuid: ctx.f.messageUuid }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const su = ctx.full.admin!;
      const content = `throwaway ${ctx.n()}`;
      await must(
        su.post('/messages', { message: { content, media_type: 'text/plain', severity: 'info' } }),
        201,
        'message',
      );
      const { messages } = await must(su.get('/messages'), 200, 'messages');
      return { params: { uuid: messages.find((m: any) => m.content === content).uuid } };
    },
  },

  // the caller's account, sessions
  getLoggedInUser: { need: 'self:read' },
  changeUserDetails: { need: 'self:admin', body: {} },
  getUserInformation: { need: 'public' },
  signinUser: { need: 'public', body: { username: 'reader', password: 'reader-password-1' } },
  logout: { need: 'public' },
  // An installation that has users refuses to be initialized, whoever asks.
  initializeUser: {
    need: 'public',
    body: { username: 'first', password: 'first-password-1' },
    expect: [400],
  },
  listAppTokens: { need: 'self:admin' },
  createAppToken: { need: 'self:admin', body: { title: 'matrix' } },
  getAppToken: { need: 'self:admin' },
  revokeAppToken: {
    need: 'self:admin',
    prepare: async (ctx, c, ok) => {
      if (!ok) return {};
      const { token } = await must(
        ctx.full[c.user!]!.post('/user/apptoken', { title: 'throwaway' }),
        200,
        'app token',
      );
      return { params: { token_uuid: token.uuid } };
    },
  },
  listStarredRepos: { need: 'self:admin' },
  createStar: { need: ['self:admin', 'repo:read'], body: { namespace: 'acme', repository: 'secret' } },
  deleteStar: { need: 'self:admin' },

  // usage logs
  listRepoLogs: { need: 'repo:admin' },
  getAggregateRepoLogs: { need: 'repo:admin' },
  exportRepoLogs: { need: 'repo:admin', body: (ctx: Ctx) => ({ callback_url: `${ctx.receiverUrl}/export` }) },
  listOrgLogs: { need: 'org:admin' },
  getAggregateOrgLogs: { need: 'org:admin' },
  exportOrgLogs: { need: 'org:admin', body: (ctx: Ctx) => ({ callback_url: `${ctx.receiverUrl}/export` }) },
  listUserLogs: { need: 'self:admin' },
  getAggregateUserLogs: { need: 'self:admin' },
  exportUserLogs: { need: 'self:admin', body: (ctx: Ctx) => ({ callback_url: `${ctx.receiverUrl}/export` }) },
  listAllLogs: { need: 'superuser' },
  listAllAggregateLogs: { need: 'superuser' },

  // repository notifications
  createRepoNotification: { need: 'repo:admin', body: notificationBody },
  listRepoNotifications: { need: 'repo:admin' },
  getRepoNotification: { need: 'repo:admin' },
  resetRepositoryNotificationFailures: { need: 'repo:admin' },
  testRepoNotification: { need: 'repo:admin' },
  deleteRepoNotification: {
    need: 'repo:admin',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const created = await must(
        ctx.full.acmeadmin!.post('/repository/acme/secret/notification/', notificationBody(ctx)),
        201,
        'notification',
      );
      return { params: { uuid: created.uuid } };
    },
  },

  // namespace notifications (quota events) of acme and of the caller's own namespace
  listOrgNotifications: { need: 'org:admin' },
  createOrgNotification: { need: 'org:admin', body: quotaNotificationBody },
  getOrgNotification: { need: 'org:admin', params: (ctx) => ({ uuid: ctx.f.orgNotificationUuid }) },
  resetOrgNotificationFailures: { need: 'org:admin', params: (ctx) => ({ uuid: ctx.f.orgNotificationUuid }) },
  testOrgNotification: { need: 'org:admin', params: (ctx) => ({ uuid: ctx.f.orgNotificationUuid }) },
  deleteOrgNotification: {
    need: 'org:admin',
    params: (ctx) => ({ uuid: ctx.f.orgNotificationUuid }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const created = await must(
        ctx.full.acmeadmin!.post('/organization/acme/notifications', quotaNotificationBody(ctx)),
        201,
        'namespace notification',
      );
      return { params: { uuid: created.uuid } };
    },
  },
  listUserNamespaceNotifications: { need: 'self:admin' },
  createUserNamespaceNotification: { need: 'self:admin', body: quotaNotificationBody },
  getUserNamespaceNotification: {
    need: 'self:admin',
    params: (ctx, c) => ({ uuid: ownNotification(ctx, c) }),
  },
  resetUserNamespaceNotificationFailures: {
    need: 'self:admin',
    params: (ctx, c) => ({ uuid: ownNotification(ctx, c) }),
  },
  testUserNamespaceNotification: {
    need: 'self:admin',
    params: (ctx, c) => ({ uuid: ownNotification(ctx, c) }),
  },
  deleteUserNamespaceNotification: {
    need: 'self:admin',
    params: (ctx, c) => ({ uuid: ownNotification(ctx, c) }),
    prepare: async (ctx, c, ok) => {
      if (!ok) return {};
      const created = await must(
        ctx.full[c.user!]!.post('/user/namespacenotifications', quotaNotificationBody(ctx)),
        201,
        'namespace notification',
      );
      return { params: { uuid: created.uuid } };
    },
  },

  // organizations, members, applications
  createOrganization: { need: 'self:admin', body: (ctx: Ctx) => ({ name: `neworg${ctx.n()}` }) },
  getOrganization: { need: 'public' },
  changeOrganizationDetails: { need: 'org:admin', body: { tag_expiration_s: 1209600 } },
  deleteAdminedOrganization: {
    need: 'org:admin',
    prepare: async (ctx, _c, ok) => (ok ? { params: { orgname: await cloneOrganization(ctx) } } : {}),
  },
  getOrganizationMembers: { need: 'org:admin' },
  getOrganizationMember: { need: 'org:admin' },
  removeOrganizationMember: {
    need: 'org:admin',
    params: () => ({ membername: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      if (ok) await bystanderInTeam(ctx);
      return {};
    },
  },
  getOrganizationCollaborators: { need: 'org:admin' },
  getOrganizationApplications: { need: 'org:admin' },
  createOrganizationApplication: { need: 'org:admin', body: { name: 'matrix-app' } },
  getOrganizationApplication: { need: 'org:admin' },
  updateOrganizationApplication: {
    need: 'org:admin',
    body: {
      name: 'fixture-app',
      redirect_uri: 'https://app.example/cb',
      application_uri: 'https://app.example',
    },
  },
  resetOrganizationApplicationClientSecret: { need: 'org:admin' },
  deleteOrganizationApplication: {
    need: 'org:admin',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const app = await must(
        ctx.full.acmeadmin!.post('/organization/acme/applications', { name: 'throwaway' }),
        200,
        'app',
      );
      return { params: { client_id: app.client_id } };
    },
  },
  listOrganizationApplicationTokens: { need: 'org:admin' },
  createOrganizationApplicationToken: { need: 'org:admin', body: { scope: 'repo:read' } },
  deleteOrganizationApplicationToken: {
    need: 'org:admin',
    params: (ctx) => ({ token_uuid: ctx.f.orgTokenUuid }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const token = await must(
        ctx.full.acmeadmin!.post(`/organization/acme/applications/${ctx.f.clientId}/tokens`, {
          scope: 'repo:read',
        }),
        200,
        'application token',
      );
      return { params: { token_uuid: token.uuid } };
    },
  },
  getApplicationInformation: { need: 'public' },

  // teams
  updateOrganizationTeam: { need: 'org:admin', body: { role: 'member' } },
  deleteOrganizationTeam: {
    need: 'org:admin',
    params: () => ({ teamname: 'bystanders' }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const teamname = `tmpteam${ctx.n()}`;
      await must(
        ctx.full.acmeadmin!.put(`/organization/acme/team/${teamname}`, { role: 'member' }),
        200,
        'team',
      );
      return { params: { teamname } };
    },
  },
  getOrganizationTeamMembers: { need: 'team:view' },
  updateOrganizationTeamMember: {
    need: 'org:admin',
    params: () => ({ teamname: 'bystanders', membername: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      // Adding a member twice is a 400 (Quay's UserAlreadyInTeam): start each entitled call without it.
      if (ok) await ctx.full.acmeadmin!.delete('/organization/acme/team/bystanders/members/bystander');
      return {};
    },
  },
  deleteOrganizationTeamMember: {
    need: 'org:admin',
    params: () => ({ teamname: 'bystanders', membername: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      if (ok) await bystanderInTeam(ctx);
      return {};
    },
  },
  getOrganizationTeamPermissions: { need: 'org:admin' },

  // robots
  getUserRobots: { need: 'self:admin' },
  getUserRobot: { need: 'self:admin' },
  createUserRobot: { need: 'self:admin', params: (ctx) => ({ robot_shortname: `newbot${ctx.n()}` }) },
  regenerateUserRobotToken: { need: 'self:admin' },
  getUserRobotPermissions: { need: 'self:admin' },
  deleteUserRobot: {
    need: 'self:admin',
    prepare: async (ctx, c, ok) => {
      if (!ok) return {};
      const robot_shortname = `tmpbot${ctx.n()}`;
      await must(ctx.full[c.user!]!.put(`/user/robots/${robot_shortname}`), 201, 'user robot');
      return { params: { robot_shortname } };
    },
  },
  getOrgRobots: { need: 'org:member' },
  getOrgRobot: { need: 'org:admin' },
  createOrgRobot: { need: 'org:admin', params: (ctx) => ({ robot_shortname: `newbot${ctx.n()}` }) },
  regenerateOrgRobotToken: { need: 'org:admin', params: () => ({ robot_shortname: 'spare' }) },
  // Quay asks for user:admin here on top of organization admin.
  getOrgRobotPermissions: { need: ['org:admin', 'self:admin'] },
  deleteOrgRobot: {
    need: 'org:admin',
    params: () => ({ robot_shortname: 'spare' }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const robot_shortname = `tmpbot${ctx.n()}`;
      await must(ctx.full.acmeadmin!.put(`/organization/acme/robots/${robot_shortname}`), 201, 'org robot');
      return { params: { robot_shortname } };
    },
  },

  // default permissions
  getOrganizationPrototypePermissions: { need: 'org:admin' },
  createOrganizationPrototypePermission: {
    need: 'org:admin',
    body: { role: 'read', delegate: { kind: 'user', name: 'reader' } },
  },
  updateOrganizationPrototypePermission: { need: 'org:admin', body: { role: 'read' } },
  deleteOrganizationPrototypePermission: {
    need: 'org:admin',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const prototype = await must(
        ctx.full.acmeadmin!.post('/organization/acme/prototypes', {
          role: 'read',
          delegate: { kind: 'user', name: 'reader' },
        }),
        200,
        'prototype',
      );
      return { params: { prototypeid: prototype.id } };
    },
  },

  // quotas
  listOrganizationQuota: { need: 'org:member' },
  getOrganizationQuota: { need: 'org:member' },
  listOrganizationQuotaLimit: { need: 'org:member' },
  getOrganizationQuotaLimit: { need: 'org:member' },
  createOrganizationQuota: {
    need: 'superuser',
    body: quotaSize,
    params: () => ({ orgname: 'spareorg' }),
    prepare: async (ctx, _c, ok) => (ok ? { params: { orgname: await cloneOrganization(ctx) } } : {}),
  },
  changeOrganizationQuota: { need: 'superuser', body: quotaSize },
  deleteOrganizationQuota: {
    need: 'superuser',
    prepare: async (ctx, _c, ok) => (ok ? { params: await orgWithQuota(ctx) } : {}),
  },
  createOrganizationQuotaLimit: {
    need: 'superuser',
    body: () => ({ type: 'Warning', threshold_percent: (limitPercent = (limitPercent % 70) + 1) }),
  },
  changeOrganizationQuotaLimit: { need: 'superuser', body: { threshold_percent: 80 } },
  deleteOrganizationQuotaLimit: {
    need: 'superuser',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const { orgname, quota_id } = await orgWithQuota(ctx);
      const su = ctx.full.admin!;
      const limits = `/organization/${orgname}/quota/${quota_id}/limit`;
      await must(su.post(limits, { type: 'Reject', threshold_percent: 95 }), 201, 'limit');
      const [limit] = await must<any[]>(su.get(limits), 200, 'limits');
      return { params: { orgname, quota_id, limit_id: String(limit.id) } };
    },
  },
  listUserQuota: { need: 'self:admin' },
  getUserQuota: { need: 'self:admin' },
  listUserQuotaLimit: { need: 'self:admin' },
  getUserQuotaLimit: { need: 'self:admin' },
  listUserQuotaSuperUser: { need: 'superuser', params: () => ({ namespace: 'reader' }) },
  createUserQuotaSuperUser: {
    need: 'superuser',
    body: quotaSize,
    params: () => ({ namespace: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const namespace = `tmpuser${ctx.n()}`;
      await ctx.server.services.identity.createUser({ name: namespace });
      return { params: { namespace } };
    },
  },
  changeUserQuotaSuperUser: {
    need: 'superuser',
    body: quotaSize,
    params: (ctx) => ({ namespace: 'reader', quota_id: ctx.f.users.reader!.quotaId }),
  },
  deleteUserQuotaSuperUser: {
    need: 'superuser',
    params: (ctx) => ({ namespace: 'reader', quota_id: ctx.f.users.reader!.quotaId }),
    prepare: async (ctx, _c, ok) => (ok ? { params: await userWithQuota(ctx) } : {}),
  },
  listOrganizationQuotaSuperUser: { need: 'superuser' },
  createOrganizationQuotaSuperUser: {
    need: 'superuser',
    body: quotaSize,
    params: () => ({ namespace: 'spareorg' }),
    prepare: async (ctx, _c, ok) => (ok ? { params: { namespace: await cloneOrganization(ctx) } } : {}),
  },
  changeOrganizationQuotaSuperUser: { need: 'superuser', body: quotaSize },
  deleteOrganizationQuotaSuperUser: {
    need: 'superuser',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const { orgname, quota_id } = await orgWithQuota(ctx);
      return { params: { namespace: orgname, quota_id } };
    },
  },

  // superuser panel
  listAllUsers: { need: 'superuser' },
  createInstallUser: { need: 'superuser', body: (ctx: Ctx) => ({ username: `newuser${ctx.n()}` }) },
  getInstallUser: { need: 'superuser' },
  changeInstallUser: {
    need: 'superuser',
    params: () => ({ username: 'bystander' }),
    body: { email: 'bystander@example.com' },
  },
  deleteInstallUser: {
    need: 'superuser',
    params: () => ({ username: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const username = `tmpuser${ctx.n()}`;
      await ctx.server.services.identity.createUser({ name: username });
      return { params: { username } };
    },
  },
  listAllOrganizations: { need: 'superuser' },
  changeOrganization: {
    need: 'superuser',
    params: () => ({ name: 'spareorg' }),
    body: { name: 'spareorg-renamed' },
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const name = await cloneOrganization(ctx);
      return { params: { name }, body: { name: `${name}-renamed` } };
    },
  },
  deleteOrganization: {
    need: 'superuser',
    params: () => ({ name: 'spareorg' }),
    prepare: async (ctx, _c, ok) => (ok ? { params: { name: await cloneOrganization(ctx) } } : {}),
  },
  takeOwnership: {
    need: 'superuser',
    params: () => ({ namespace: 'spareorg' }),
    prepare: async (ctx, _c, ok) => (ok ? { params: { namespace: await cloneOrganization(ctx) } } : {}),
  },
  listServiceKeys: { need: 'superuser' },
  createServiceKey: { need: 'superuser', body: { service: 'matrix', expiration: null } },
  getServiceKey: { need: 'superuser' },
  updateServiceKey: { need: 'superuser', body: { name: 'fixture key' } },
  approveServiceKey: {
    need: 'superuser',
    body: { notes: 'matrix' },
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const created = await ctx.server.services.serviceKeys.create({ service: 'matrix' });
      return { params: { kid: created.key.kid } };
    },
  },
  deleteServiceKey: {
    need: 'superuser',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const key = await must(
        ctx.full.admin!.post('/superuser/keys', { service: 'matrix', expiration: null }),
        200,
        'key',
      );
      return { params: { kid: key.kid } };
    },
  },

  // repositories
  createRepo: {
    need: 'org:creator',
    body: (ctx: Ctx) => ({
      namespace: 'acme',
      repository: `newrepo${ctx.n()}`,
      visibility: 'private',
      description: '',
    }),
  },
  listRepos: { need: 'public', query: '?namespace=acme' },
  getRepo: { need: 'repo:read' },
  updateRepo: { need: 'repo:write', body: { description: 'the fixture' } },
  changeRepoVisibility: { need: 'repo:admin', body: { visibility: 'private' } },
  changeRepoState: { need: 'repo:admin', body: { state: 'NORMAL' } },
  deleteRepository: {
    need: 'repo:admin',
    prepare: async (ctx, _c, ok) => (ok ? { params: { repository: await cloneRepository(ctx) } } : {}),
  },

  // repository permissions
  listRepoUserPermissions: { need: 'repo:admin' },
  getUserTransitivePermission: { need: 'repo:admin' },
  getUserPermissions: { need: 'repo:admin' },
  changeUserPermissions: { need: 'repo:admin', body: { role: 'read' } },
  deleteUserPermissions: {
    need: 'repo:admin',
    params: () => ({ username: 'bystander' }),
    prepare: async (ctx, _c, ok) => {
      if (ok)
        await must(
          ctx.full.acmeadmin!.put('/repository/acme/secret/permissions/user/bystander', { role: 'read' }),
          200,
          'grant',
        );
      return {};
    },
  },
  listRepoTeamPermissions: { need: 'repo:admin' },
  getTeamPermissions: { need: 'repo:admin' },
  changeTeamPermissions: { need: 'repo:admin', body: { role: 'read' } },
  deleteTeamPermissions: {
    need: 'repo:admin',
    params: () => ({ teamname: 'bystanders' }),
    prepare: async (ctx, _c, ok) => {
      if (ok)
        await must(
          ctx.full.acmeadmin!.put('/repository/acme/secret/permissions/team/bystanders', { role: 'read' }),
          200,
          'grant',
        );
      return {};
    },
  },

  // tags, manifests, labels, security
  listRepoTags: { need: 'repo:read' },
  changeTag: { need: 'repo:write', body: (ctx: Ctx) => ({ manifest_digest: ctx.f.digest }) },
  restoreTag: { need: 'repo:write', body: (ctx: Ctx) => ({ manifest_digest: ctx.f.digest }) },
  removeTagFromTimemachine: {
    need: 'repo:write',
    body: (ctx: Ctx) => ({ manifest_digest: ctx.f.digest }),
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const tag = await throwawayTag(ctx);
      await must(ctx.full.acmeadmin!.delete(`/repository/acme/secret/tag/${tag}`), 204, 'delete tag');
      return { params: { tag } };
    },
  },
  deleteFullTag: {
    need: 'repo:write',
    prepare: async (ctx, _c, ok) => (ok ? { params: { tag: await throwawayTag(ctx) } } : {}),
  },
  getRepoManifest: { need: 'repo:read' },
  listManifestLabels: { need: 'repo:read' },
  addManifestLabel: {
    need: 'repo:write',
    body: { key: 'matrix.label', value: 'x', media_type: 'text/plain' },
  },
  getManifestLabel: { need: 'repo:read' },
  deleteManifestLabel: {
    need: 'repo:write',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const { label } = await must(
        ctx.full.acmeadmin!.post(`/repository/acme/secret/manifest/${ctx.f.digest}/labels`, {
          key: 'throwaway',
          value: 'x',
          media_type: 'text/plain',
        }),
        201,
        'label',
      );
      return { params: { labelid: label.id } };
    },
  },
  getRepoManifestSecurity: { need: 'repo:read' },

  // build triggers of acme/secret: all for repository admins
  listBuildTriggers: { need: 'repo:admin' },
  createBuildTrigger: { need: 'repo:admin', body: { service: 'custom-git' } },
  getBuildTrigger: { need: 'repo:admin' },
  updateBuildTrigger: { need: 'repo:admin', body: { enabled: true } },
  listTriggerRecentBuilds: { need: 'repo:admin' },
  manuallyStartBuildTrigger: { need: 'repo:admin', body: { commit_sha: 'a'.repeat(40) } },
  activateBuildTrigger: {
    need: 'repo:admin',
    body: { config: triggerConfig },
    prepare: async (ctx, _c, ok) => (ok ? { params: { trigger_uuid: await throwawayTrigger(ctx) } } : {}),
  },
  deleteBuildTrigger: {
    need: 'repo:admin',
    prepare: async (ctx, _c, ok) => (ok ? { params: { trigger_uuid: await throwawayTrigger(ctx) } } : {}),
  },

  // repository builds of acme/secret; filedrop uploads of the caller
  getRepoBuilds: { need: 'repo:read' },
  requestRepoBuild: {
    need: 'repo:write',
    body: (ctx: Ctx) => ({ archive_url: `${ctx.receiverUrl}/context.tar.gz` }),
  },
  getRepoBuild: { need: 'repo:read' },
  getRepoBuildStatus: { need: 'repo:read' },
  getRepoBuildLogs: { need: 'repo:write' },
  cancelRepoBuild: {
    need: 'repo:admin',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const build = await ctx.server.services.repositoryBuilds.requestBuild('acme/secret', {
        source: { kind: 'archive', url: `${ctx.receiverUrl}/context.tar.gz` },
        tags: ['latest'],
        manualUser: 'acmeadmin',
      });
      return { params: { build_uuid: build.id } };
    },
  },
  getFiledropUrl: { need: 'self:read', body: { mimeType: 'application/x-tar' } },
  // The upload URL's random file id is its only credential (as Quay's signed storage URLs).
  uploadFiledropFile: {
    need: 'public',
    prepare: async (ctx) => ({
      params: {
        file_id: (await ctx.server.services.repositoryBuilds.createUpload('acmeadmin', 'application/x-tar'))
          .fileId,
      },
    }),
  },

  // mirroring: acme/mirrored has acme/secret's grants and a mirror configuration
  getRepoMirrorConfig: { need: 'repo:admin', params: () => ({ repository: 'mirrored' }) },
  createRepoMirrorConfig: {
    need: 'repo:admin',
    body: mirrorBody,
    params: () => ({ repository: 'mirrored' }),
    prepare: async (ctx, _c, ok) => (ok ? { params: { repository: await cloneRepository(ctx) } } : {}),
  },
  changeRepoMirrorConfig: {
    need: 'repo:admin',
    body: { is_enabled: false },
    params: () => ({ repository: 'mirrored' }),
  },
  syncNow: { need: 'repo:admin', params: () => ({ repository: 'mirrored' }) },
  syncCancel: {
    need: 'repo:admin',
    params: () => ({ repository: 'mirrored' }),
    // Only a requested or running sync can be cancelled: request one before every call.
    prepare: async (ctx) => {
      await must(ctx.full.acmeadmin!.post('/repository/acme/mirrored/mirror/sync-now'), 204, 'sync-now');
      return {};
    },
  },

  // proxy cache
  getProxyCacheConfig: { need: 'org:member' },
  createProxyCacheConfig: {
    need: 'org:admin',
    body: proxyBody,
    prepare: async (ctx, _c, ok) => (ok ? { params: { orgname: await cloneOrganization(ctx) } } : {}),
  },
  deleteProxyCacheConfig: {
    need: 'org:admin',
    prepare: async (ctx, _c, ok) => {
      if (!ok) return {};
      const orgname = await cloneOrganization(ctx);
      await must(
        ctx.full.acmeadmin!.post(`/organization/${orgname}/proxycache`, proxyBody(ctx)),
        201,
        'proxy cache',
      );
      return { params: { orgname } };
    },
  },
  // The receiver is not a registry: the check may fail (400) but must be reached.
  validateProxyCacheConfig: { need: 'org:admin', body: proxyBody, ok: [400] },
};

/** The caller's own namespace notification (any uuid for callers without an account). */
const ownNotification = (ctx: Ctx, caller: Caller) =>
  (caller.user && ctx.f.users[caller.user]?.notification) || 'no-such-notification';

/** Path parameters every operation starts from; rows override them. */
function defaultParams(ctx: Ctx, caller: Caller): Params {
  const own = caller.user ? ctx.f.users[caller.user] : undefined;
  return {
    namespace: 'acme',
    repository: 'secret',
    orgname: 'acme',
    teamname: 'devs',
    membername: 'teammate',
    username: 'reader',
    robot_shortname: 'bot',
    tag: 'latest',
    manifestref: ctx.f.digest,
    labelid: ctx.f.labelId,
    uuid: ctx.f.notificationUuid,
    client_id: ctx.f.clientId,
    token_uuid: own?.appToken ?? 'no-such-token',
    prototypeid: ctx.f.prototypeId,
    quota_id: ctx.f.quotaId,
    limit_id: ctx.f.limitId,
    kid: ctx.f.kid,
    name: 'spareorg',
    error_type: 'not_found',
    trigger_uuid: ctx.f.triggerUuid,
    build_uuid: ctx.f.buildUuid,
  };
}

/** The user's own quota for `/user/quota...` paths. */
function userQuotaParams(ctx: Ctx, caller: Caller, path: string): Params {
  if (!path.startsWith('/user/quota')) return {};
  const own = caller.user ? ctx.f.users[caller.user] : undefined;
  return own ? { quota_id: own.quotaId, limit_id: own.limitId } : { quota_id: '1', limit_id: '1' };
}

const fill = (template: string, params: Params) =>
  template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(value);
  });

/** Does a body name the private repository (`acme/secret`, or `"secret"` as a JSON value)? */
const namesSecret = (text: string) => /acme\/secret|"secret"/.test(text);

const methodOrder: Record<string, number> = { get: 0, put: 1, post: 2, delete: 3 };

forEachDatabase((database) => {
  describe(`Quay authorization matrix on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    let receiver: Awaited<ReturnType<typeof startHttpReceiver>>;
    let ctx: Ctx;
    const clients = new Map<Caller, QuayClient>();

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      receiver = await startHttpReceiver();
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.1/32' } });
      let counter = 0;
      const full: Record<string, QuayClient> = {};
      for (const name of [
        'acmeadmin',
        'reader',
        'writer',
        'repoadmin',
        'teammate',
        'outsider',
        'admin',
        'exreader',
      ])
        full[name] = (await userWithToken(server, name)).client;
      await userWithToken(server, 'bystander');
      const acme = full.acmeadmin!;
      const su = full.admin!;

      // acme: team devs (teammate), team bystanders; robots bot (write on acme/secret) and spare.
      await must(acme.post('/organization/', { name: 'acme', email: 'ops@acme.test' }), 201, 'acme');
      await must(full.outsider!.post('/organization/', { name: 'other' }), 201, 'other');
      await must(acme.post('/organization/', { name: 'spareorg' }), 201, 'spareorg');
      await must(acme.put('/organization/acme/team/devs', { role: 'member' }), 200, 'devs');
      await must(acme.put('/organization/acme/team/devs/members/teammate'), 200, 'teammate');
      await must(acme.put('/organization/acme/team/bystanders', { role: 'member' }), 200, 'bystanders');
      const bot = await must(acme.put('/organization/acme/robots/bot'), 201, 'acme+bot');
      await must(acme.put('/organization/acme/robots/spare'), 201, 'acme+spare');

      // acme/secret (private, one pushed image) and acme/open (public).
      await must(
        acme.post('/repository', {
          namespace: 'acme',
          repository: 'secret',
          visibility: 'private',
          description: '',
        }),
        201,
        'acme/secret',
      );
      await must(
        acme.post('/repository', {
          namespace: 'acme',
          repository: 'open',
          visibility: 'public',
          description: '',
        }),
        201,
        'acme/open',
      );
      const registry = new RegistryClient(server.url, {
        username: 'acmeadmin',
        password: 'acmeadmin-password-1',
      });
      const image = await pushImage(registry, 'acme/secret', 'latest');
      const openImage = await pushImage(registry, 'acme/open', 'latest');
      const partial: Partial<Ctx> = { server, full, n: () => ++counter, receiverUrl: receiver.url };
      // Grants on acme/secret: users and the robot directly, teams devs and bystanders.
      const permissions = '/repository/acme/secret/permissions';
      for (const [who, role] of [
        ['reader', 'read'],
        ['writer', 'write'],
        ['repoadmin', 'admin'],
        ['acme+bot', 'write'],
        ['bystander', 'read'],
        ['exreader', 'read'],
      ])
        await must(acme.put(`${permissions}/user/${who}`, { role }), 200, `grant ${who}`);
      for (const team of ['devs', 'bystanders'])
        await must(acme.put(`${permissions}/team/${team}`, { role: 'read' }), 200, `grant ${team}`);

      // Objects the paths name: a notification, a label, a prototype, an application and its token,
      // acme's quota and a limit, a service key, a global message.
      const notification = await must(
        acme.post('/repository/acme/secret/notification/', notificationBody(partial as Ctx)),
        201,
        'notification',
      );
      const { label } = await must(
        acme.post(`/repository/acme/secret/manifest/${image.digest}/labels`, {
          key: 'fixture',
          value: 'yes',
          media_type: 'text/plain',
        }),
        201,
        'label',
      );
      const orgNotification = await must(
        acme.post('/organization/acme/notifications', quotaNotificationBody(partial as Ctx)),
        201,
        'organization notification',
      );
      const prototype = await must(
        acme.post('/organization/acme/prototypes', {
          role: 'read',
          delegate: { kind: 'user', name: 'reader' },
        }),
        200,
        'prototype',
      );
      const app = await must(
        acme.post('/organization/acme/applications', {
          name: 'fixture-app',
          redirect_uri: 'https://app.example/cb',
          application_uri: 'https://app.example',
        }),
        200,
        'application',
      );
      const orgToken = await must(
        acme.post(`/organization/acme/applications/${app.client_id}/tokens`, { scope: 'repo:read' }),
        200,
        'application token',
      );
      await must(su.post('/organization/acme/quota', quotaSize), 201, 'acme quota');
      const [quota] = await must<any[]>(su.get('/organization/acme/quota'), 200, 'acme quotas');
      await must(
        su.post(`/organization/acme/quota/${quota.id}/limit`, { type: 'Warning', threshold_percent: 80 }),
        201,
        'limit',
      );
      const [limit] = await must<any[]>(su.get(`/organization/acme/quota/${quota.id}/limit`), 200, 'limits');
      const key = await must(
        su.post('/superuser/keys', { service: 'matrix', name: 'fixture key', expiration: null }),
        200,
        'key',
      );
      await must(
        su.post('/messages', { message: { content: 'fixture', media_type: 'text/plain', severity: 'info' } }),
        201,
        'message',
      );
      const { messages } = await must(su.get('/messages'), 200, 'messages');

      // Per user: a robot `<user>+bot`, an app token, a quota with a limit.
      const users: Fixture['users'] = {};
      for (const name of ['acmeadmin', 'reader', 'writer', 'repoadmin', 'teammate', 'outsider', 'admin']) {
        const client = full[name]!;
        await must(client.put('/user/robots/bot'), 201, `${name}+bot`);
        const { token } = await must(client.post('/user/apptoken', { title: 'fixture' }), 200, 'app token');
        await must(su.post(`/superuser/users/${name}/quota`, quotaSize), 201, `quota of ${name}`);
        const [own] = await must<any[]>(su.get(`/superuser/users/${name}/quota`), 200, 'user quotas');
        const ownLimit = await server.services.quotas.addLimit(
          name,
          String(own.id),
          { type: 'Warning', thresholdPercent: 80 },
          'user',
        );
        const notification = await must(
          client.post('/user/namespacenotifications', quotaNotificationBody(partial as Ctx)),
          201,
          'user notification',
        );
        users[name] = {
          appToken: token.uuid,
          quotaId: String(own.id),
          limitId: String(ownLimit.id),
          notification: notification.uuid,
        };
      }

      const trigger = await must(
        acme.post('/repository/acme/secret/trigger/', { service: 'custom-git' }),
        201,
        'build trigger',
      );
      await must(
        acme.post(`/repository/acme/secret/trigger/${trigger.id}/activate`, { config: triggerConfig }),
        200,
        'activate trigger',
      );
      const build = await server.services.repositoryBuilds.requestBuild('acme/secret', {
        source: { kind: 'archive', url: `${receiver.url}/context.tar.gz` },
        tags: ['latest'],
        manualUser: 'acmeadmin',
      });
      ctx = {
        ...(partial as Ctx),
        f: {
          digest: image.digest,
          openDigest: openImage.digest,
          labelId: label.id,
          notificationUuid: notification.uuid,
          orgNotificationUuid: orgNotification.uuid,
          prototypeId: prototype.id,
          clientId: app.client_id,
          orgTokenUuid: orgToken.uuid,
          quotaId: String(quota.id),
          limitId: String(limit.id),
          kid: key.kid,
          messageUuid: messages[0].uuid,
          triggerUuid: trigger.id,
          buildUuid: build.id,
          robotToken: bot.token,
          users,
        },
      };
      // acme/mirrored: acme/secret's grants and a mirror configuration (mirrored by acme+bot).
      await cloneRepository(ctx, 'mirrored');
      await must(acme.post('/repository/acme/mirrored/mirror', mirrorBody(ctx)), 201, 'mirror');

      for (const caller of callers) {
        if (caller.robot) {
          const basic = Buffer.from(`acme+bot:${bot.token}`).toString('base64');
          clients.set(caller, new QuayClient(server.url, undefined, { authorization: `Basic ${basic}` }));
        } else if (!caller.user) clients.set(caller, new QuayClient(server.url));
        else if (!caller.scopes) clients.set(caller, full[caller.user]!);
        else clients.set(caller, (await userWithToken(server, caller.user, caller.scopes)).client);
      }
    });
    after(async () => {
      await server?.close();
      await receiver?.close();
    });

    const callerNamed = (name: string) => callers.find((c) => c.name === name)!;

    test('the robot credential is a registry login, not an /api/v1 one', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const robotLogin = new RegistryClient(server.url, { username: 'acme+bot', password: ctx.f.robotToken });
      const granted = await robotLogin.token(['repository:acme/secret:pull,push']);
      assert.equal(granted.status, 200, 'acme+bot logs in to the registry');
      const robot = clients.get(callerNamed('robot acme+bot (Basic)'))!;
      const me = await robot.get('/user/');
      assert.equal(me.status, 401, 'a Basic robot credential on /api/v1 is anonymous');
      assert.equal((await robot.get('/repository/acme/secret')).status, 401);
      // Nor is any other registry credential a way into /api/v1: only OAuth tokens and sessions are.
      const { token: app } = await must(
        ctx.full.reader!.post('/user/apptoken', { title: 'registry' }),
        200,
        'app',
      );
      const basic = (user: string, password: string) => ({
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      });
      for (const [what, headers] of [
        ['the robot token as a bearer token', { authorization: `Bearer ${ctx.f.robotToken}` }],
        ['an app token as a bearer token', { authorization: `Bearer ${app.token_code}` }],
        ['an app token as $app', basic('$app', app.token_code)],
        ['a password', basic('reader', 'reader-password-1')],
      ] as const) {
        const client = new QuayClient(server.url, undefined, headers);
        assert.equal((await client.get('/user/')).status, 401, what);
        assert.equal((await client.get('/repository/acme/secret')).status, 401, what);
      }
    });

    test('lists name acme/secret only to callers that may read it', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { full } = ctx;
      // Stars: reader keeps its star; exreader starred it and then lost its grant.
      await must(
        full.reader!.post('/user/starred', { namespace: 'acme', repository: 'secret' }),
        201,
        'star',
      );
      await must(
        full.writer!.post('/user/starred', { namespace: 'acme', repository: 'secret' }),
        201,
        'star',
      );
      await must(
        full.exreader!.post('/user/starred', { namespace: 'acme', repository: 'secret' }),
        201,
        'star',
      );
      await must(full.acmeadmin!.delete('/repository/acme/secret/permissions/user/exreader'), 204, 'revoke');

      const names = (res: QuayResponse<any>) =>
        (res.body.repositories as Array<{ namespace: string; name: string }>).map(
          (r) => `${r.namespace}/${r.name}`,
        );
      for (const caller of callers) {
        const client = clients.get(caller)!;
        const canRead = !mayNotRead(caller);
        const byNamespace = await client.get('/repository?namespace=acme');
        assert.equal(byNamespace.status, 200, caller.name);
        assert.equal(names(byNamespace).includes('acme/secret'), canRead, `${caller.name}: ?namespace=acme`);
        const everyone = await client.get('/repository?namespace=acme&public=true');
        assert.equal(everyone.status, 200, caller.name);
        assert.ok(names(everyone).includes('acme/open'), `${caller.name}: ?public=true lists acme/open`);
        assert.equal(names(everyone).includes('acme/secret'), canRead, `${caller.name}: ?public=true`);
        const allPublic = await client.get('/repository?public=true');
        assert.equal(allPublic.status, 200, caller.name);
        if (!canRead)
          assert.ok(!namesSecret(allPublic.text), `${caller.name}: ?public=true names acme/secret`);
        if (caller.user) {
          const starred = await client.get('/repository?starred=true');
          assert.equal(starred.status, 200, caller.name);
          if (!canRead)
            assert.ok(!namesSecret(starred.text), `${caller.name}: ?starred=true names acme/secret`);
        }
        // The organization: teams for members only, nothing about the repository to others.
        const acme = await client.get('/organization/acme');
        assert.equal(acme.status, 200, caller.name);
        const member = caller.has.includes('org:member');
        assert.equal('teams' in acme.body, member, `${caller.name}: teams of acme`);
        if (!member) assert.ok(!/devs|bystanders/.test(acme.text), `${caller.name}: team names of acme`);
        if (!canRead) assert.ok(!namesSecret(acme.text), `${caller.name}: /organization/acme`);
      }
      assert.ok(names(await full.reader!.get('/repository?starred=true')).includes('acme/secret'));
      assert.ok(
        names(await full.reader!.get('/user/starred')).includes('acme/secret'),
        'reader keeps its star',
      );
      for (const path of ['/user/starred', '/repository?starred=true']) {
        const res = await full.exreader!.get(path);
        assert.equal(res.status, 200, path);
        assert.ok(!namesSecret(res.text), `a star does not outlive the grant: ${path} ${res.text}`);
      }
      // A token without repo:read lists public repositories only, even the caller's stars.
      const writerUserRead = clients.get(callerNamed('writer with user:read only'))!;
      assert.ok(!namesSecret((await writerUserRead.get('/repository?starred=true')).text));

      // Organization robots: members see the names, never the tokens or what the robots may reach.
      const teammate = await full.teammate!.get('/organization/acme/robots?permissions=true&token=true');
      assert.equal(teammate.status, 200);
      for (const robot of teammate.body.robots) {
        assert.ok(!('token' in robot), `token of ${robot.name} shown to a member`);
        assert.ok(!('repositories' in robot), `repositories of ${robot.name} shown to a member`);
      }
      const owner = await full.acmeadmin!.get('/organization/acme/robots?permissions=true&token=true');
      assert.ok(
        owner.body.robots.some(
          (r: any) => r.name === 'acme+bot' && r.token && r.repositories.includes('secret'),
        ),
      );

      // The registry's catalog follows the same rule.
      const catalogFor = async (creds?: { username: string; password: string }) => {
        const res = await new RegistryClient(server.url, creds).request('GET', '/v2/_catalog');
        assert.equal(res.status, 200, `catalog as ${creds?.username ?? 'anonymous'}: ${res.body.toString()}`);
        return res.json<{ repositories: string[] }>().repositories;
      };
      assert.ok(!(await catalogFor()).includes('acme/secret'), 'anonymous catalog');
      const outsider = await catalogFor({ username: 'outsider', password: 'outsider-password-1' });
      assert.ok(!outsider.includes('acme/secret'), 'outsider catalog');
      assert.ok(
        !(await catalogFor({ username: 'exreader', password: 'exreader-password-1' })).includes(
          'acme/secret',
        ),
      );
      assert.ok(
        (await catalogFor({ username: 'reader', password: 'reader-password-1' })).includes('acme/secret'),
      );
      assert.ok(
        (await catalogFor({ username: 'acme+bot', password: ctx.f.robotToken })).includes('acme/secret'),
      );
      assert.ok((await catalogFor({ username: 'admin', password: adminPassword })).includes('acme/secret'));
    });

    test('public acme/open is read by every caller and changed only by acme admins', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      for (const caller of callers) {
        const client = clients.get(caller)!;
        for (const path of [
          '/repository/acme/open',
          '/repository/acme/open/tag/',
          `/repository/acme/open/manifest/${ctx.f.openDigest}`,
          `/repository/acme/open/manifest/${ctx.f.openDigest}/labels`,
        ])
          assert.equal((await client.get(path)).status, 200, `${caller.name}: GET ${path}`);
        // acme/open has no grants: only acme's admins (with repository scopes) may change it.
        const refusal = caller.has.includes('org:admin') ? 200 : caller.user ? 403 : 401;
        const described = await client.put('/repository/acme/open', { description: 'public' });
        assert.equal(described.status, refusal, `${caller.name}: PUT /repository/acme/open`);
        const permissions = await client.get('/repository/acme/open/permissions/user/');
        assert.equal(permissions.status, refusal, `${caller.name}: permissions of acme/open`);
        const tagged = await client.put('/repository/acme/open/tag/other', {
          manifest_digest: ctx.f.openDigest,
        });
        assert.equal(tagged.status, refusal === 200 ? 201 : refusal, `${caller.name}: tag acme/open`);
      }
    });

    test('every operation of /discovery answers each caller as its required role says', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const anonymous = clients.get(callers[0]!)!;
      const doc = await must(anonymous.get('/discovery'), 200, 'discovery');
      const operations: Array<{ method: string; template: string; id: string }> = [];
      for (const [template, methods] of Object.entries<Record<string, { operationId?: string }>>(doc.paths))
        for (const [method, op] of Object.entries(methods))
          if (op?.operationId)
            operations.push({ method, template: template.replace(/^\/api\/v1/, ''), id: op.operationId });
      assert.deepEqual(
        operations
          .filter((op) => !rows[op.id])
          .map((op) => `${op.method.toUpperCase()} ${op.template} ${op.id}`),
        [],
        'every operation of /discovery has a row in the matrix',
      );
      const listed = new Set(operations.map((op) => op.id));
      assert.deepEqual(
        Object.keys(rows).filter((id) => !listed.has(id)),
        [],
        'every row of the matrix is an operation of /discovery',
      );
      for (const row of Object.values(rows))
        assert.ok(!(row.ok ?? []).some((s) => s === 401 || s === 403), 'an entitled caller is never refused');

      // Reads first, destructive calls last; destructive calls by entitled callers hit throwaway copies.
      operations.sort((a, b) => methodOrder[a.method]! - methodOrder[b.method]!);
      for (const op of operations) {
        const row = rows[op.id]!;
        const failures: string[] = [];
        for (const caller of callers) {
          const client = clients.get(caller)!;
          const allowed = entitled(caller, row.need);
          const prepared = row.prepare ? await row.prepare(ctx, caller, allowed) : {};
          const params = {
            ...defaultParams(ctx, caller),
            ...userQuotaParams(ctx, caller, op.template),
            ...row.params?.(ctx, caller),
            ...prepared.params,
          };
          const path = fill(op.template, params) + (row.query ?? '');
          const rowBody = typeof row.body === 'function' ? (row.body as (c: Ctx) => unknown)(ctx) : row.body;
          const body =
            op.method === 'get' || op.method === 'delete' ? undefined : (prepared.body ?? rowBody ?? {});
          const res = await client.request(op.method.toUpperCase(), path, body);
          const what = `${caller.name}: ${op.method.toUpperCase()} ${path} -> ${res.status} ${res.text.slice(0, 300)}`;

          if (res.status >= 500) failures.push(`server error: ${what}`);
          else if (allowed) {
            const good = row.expect
              ? row.expect.includes(res.status)
              : (res.status >= 200 && res.status < 300) || (row.ok ?? []).includes(res.status);
            if (!good) failures.push(`entitled caller not served: ${what}`);
          } else {
            const refusal = caller.user ? 403 : 401;
            if (res.status !== refusal) failures.push(`expected ${refusal}: ${what}`);
            else if (res.body?.status !== refusal || typeof res.body?.error_type !== 'string')
              failures.push(`refusal is not an ApiError: ${what}`);
          }
          if (
            mayNotRead(caller) &&
            namesSecret(res.text) &&
            !(path.includes('/secret') && [401, 403].includes(res.status))
          )
            failures.push(`names acme/secret to a caller that may not read it: ${what}`);

          // A missing repository: the same refusal to those refused on an existing one, 404 to acme's admins.
          const repository = /^\/repository\/acme\/([^/?]+)/.exec(path)?.[1];
          if (repository && (!allowed || administersAcme(caller))) {
            const missingPath = path.replace(`/repository/acme/${repository}`, '/repository/acme/nothere');
            const missing = await client.request(op.method.toUpperCase(), missingPath, body);
            if (!allowed && [401, 403].includes(res.status)) {
              const same =
                missing.status === res.status && missing.text.replaceAll('nothere', repository) === res.text;
              if (!same)
                failures.push(
                  `acme/nothere and acme/${repository} are told apart: ${caller.name}: ${op.method.toUpperCase()} ${path} -> ${res.status} ${res.text} / ${missing.status} ${missing.text}`,
                );
            } else if (allowed && missing.status !== 404)
              failures.push(
                `a missing repository is not 404 to acme's admin: ${caller.name}: ${op.method.toUpperCase()} ${missingPath} -> ${missing.status} ${missing.text.slice(0, 200)}`,
              );
          }
        }
        await t.test(
          `${op.id} (${op.method.toUpperCase()} ${op.template}) needs ${[row.need].flat().join(' + ')}`,
          () => {
            assert.deepEqual(failures, []);
          },
        );
      }
    });
  });
});
