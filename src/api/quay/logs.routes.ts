import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { serviceLevelKinds, type AuditRecord, type LogScope } from '../../audit/index.js';
import type { Subject } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';
import { avatar, formatDate } from './views.js';

const timeQuery = {
  starttime: Type.Optional(
    Type.String({ description: 'Earliest time for logs. Format: "%m/%d/%Y" in UTC.' }),
  ),
  endtime: Type.Optional(Type.String({ description: 'Latest time for logs. Format: "%m/%d/%Y" in UTC.' })),
};
const performerQuery = {
  performer: Type.Optional(Type.String({ description: 'Username for which to filter logs.' })),
};
const pageQuery = {
  next_page: Type.Optional(Type.String({ description: 'The page token for the next page' })),
};
const ListQuery = Type.Object({ ...timeQuery, ...performerQuery, ...pageQuery });
const AggregateQuery = Type.Object({ ...timeQuery, ...performerQuery });
const ExportBody = Type.Object(
  {
    callback_url: Type.Optional(
      Type.String({ description: 'The callback URL to invoke with a link to the exported logs' }),
    ),
    callback_email: Type.Optional(
      Type.String({ description: 'The e-mail address at which to e-mail a link to the exported logs' }),
    ),
  },
  { description: 'Configuration for an export logs operation' },
);
const RepoParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
const OrgParams = Type.Object({ orgname: Type.String() });

/** Quay's log entry view (data/logs_model/datatypes.py `Log.to_dict`). */
export function logView(record: AuditRecord, includeNamespace: boolean) {
  const view: Record<string, unknown> = {
    kind: record.kind,
    metadata: record.metadata,
    ip: record.ip,
    datetime: formatDate(record.datetime),
  };
  if (record.performer) {
    const isRobot = record.performer.kind === 'robot';
    view.performer = {
      kind: 'user',
      name: record.performer.name,
      is_robot: isRobot,
      avatar: avatar(record.performer.name, isRobot ? 'robot' : 'user'),
    };
  }
  if (includeNamespace && record.namespace) {
    view.namespace = {
      kind: record.namespace.kind,
      name: record.namespace.name,
      avatar: avatar(record.namespace.name, record.namespace.kind === 'org' ? 'org' : 'user'),
    };
  }
  return view;
}

/** Usage logs: list, aggregate and export for a repository, an organization, the caller and the superuser. */
export async function logsRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  const list = async (logScope: LogScope, nextPage: string | undefined) => {
    const page = await deps.audit.list(logScope, nextPage);
    return {
      start_time: formatDate(page.start),
      end_time: formatDate(page.end),
      logs: page.logs.map((record) => logView(record, logScope.withNamespace ?? false)),
      ...(page.nextPage ? { next_page: page.nextPage } : {}),
    };
  };
  const aggregate = async (logScope: LogScope) => ({
    aggregated: (await deps.audit.aggregate(logScope)).map((a) => ({
      kind: a.kind,
      count: a.count,
      datetime: formatDate(a.datetime),
    })),
  });
  const queueExport = (logScope: LogScope, body: { callback_url?: string; callback_email?: string }) => ({
    export_id: deps.audit.queueExport(
      logScope,
      { callbackUrl: body.callback_url || undefined, callbackEmail: body.callback_email || undefined },
      (exportId, page, terminated) => ({
        export_id: exportId,
        status: 'success',
        details: {
          start_time: formatDate(page.start),
          end_time: formatDate(page.end),
          namespace: logScope.namespace ?? null,
          repository: logScope.repository ?? null,
        },
        logs: page.logs.map((record) => logView(record, true)),
        terminated,
      }),
    ),
  });
  const repoScope = async (subject: Subject, namespace: string, repository: string) => {
    const repo = await deps.access.repository(subject, `${namespace}/${repository}`, 'admin');
    return { namespace: repo.namespace, repository: repo.name };
  };

  // Repository

  app.get(
    '/repository/:namespace/:repository/logs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'listRepoLogs',
        summary: 'List the logs for the specified repository.',
        security: [{ oauth2_implicit: ['repo:admin'] }],
        params: RepoParams,
        querystring: Type.Object({ ...timeQuery, ...pageQuery }),
      },
    },
    async (request) => {
      const where = await repoScope(request.subject, request.params.namespace, request.params.repository);
      return list({ ...request.query, ...where }, request.query.next_page);
    },
  );

  app.get(
    '/repository/:namespace/:repository/aggregatelogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'getAggregateRepoLogs',
        summary: 'Returns the aggregated logs for the specified repository.',
        security: [{ oauth2_implicit: ['repo:admin'] }],
        params: RepoParams,
        querystring: Type.Object(timeQuery),
      },
    },
    async (request) => {
      const where = await repoScope(request.subject, request.params.namespace, request.params.repository);
      return aggregate({ ...request.query, ...where });
    },
  );

  app.post(
    '/repository/:namespace/:repository/exportlogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'exportRepoLogs',
        summary: 'Queues an export of the logs for the specified repository.',
        security: [{ oauth2_implicit: ['repo:admin'] }],
        params: RepoParams,
        querystring: Type.Object(timeQuery),
        body: ExportBody,
      },
    },
    async (request) => {
      const where = await repoScope(request.subject, request.params.namespace, request.params.repository);
      return queueExport({ ...request.query, ...where }, request.body);
    },
  );

  // Organization

  app.get(
    '/organization/:orgname/logs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'listOrgLogs',
        summary: 'List the logs for the specified organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
        querystring: ListQuery,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return list({ ...request.query, namespace: request.params.orgname }, request.query.next_page);
    },
  );

  app.get(
    '/organization/:orgname/aggregatelogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'getAggregateOrgLogs',
        summary: 'Gets the aggregated logs for the specified organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
        querystring: AggregateQuery,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return aggregate({ ...request.query, namespace: request.params.orgname });
    },
  );

  app.post(
    '/organization/:orgname/exportlogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'exportOrgLogs',
        summary: 'Exports the logs for the specified organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
        querystring: Type.Object(timeQuery),
        body: ExportBody,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return queueExport({ ...request.query, namespace: request.params.orgname }, request.body);
    },
  );

  // The caller's own namespace

  app.get(
    '/user/logs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'listUserLogs',
        summary: 'List the logs for the current user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        querystring: ListQuery,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return list(
        { ...request.query, namespace: user.name, excludeKinds: serviceLevelKinds },
        request.query.next_page,
      );
    },
  );

  app.get(
    '/user/aggregatelogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'getAggregateUserLogs',
        summary: 'Returns the aggregated logs for the current user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        querystring: AggregateQuery,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return aggregate({ ...request.query, namespace: user.name, excludeKinds: serviceLevelKinds });
    },
  );

  app.post(
    '/user/exportlogs',
    {
      schema: {
        tags: ['logs'],
        operationId: 'exportUserLogs',
        summary: 'Returns the aggregated logs for the current user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        querystring: Type.Object(timeQuery),
        body: ExportBody,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return queueExport({ ...request.query, namespace: user.name }, request.body);
    },
  );

  // The whole system

  app.get(
    '/superuser/logs',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'listAllLogs',
        summary: 'List the usage logs for the current system.',
        security: [{ oauth2_implicit: ['super:user'] }],
        querystring: Type.Object({ ...timeQuery, ...pageQuery, page: Type.Optional(Type.Integer()) }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return list({ ...request.query, withNamespace: true }, request.query.next_page);
    },
  );

  app.get(
    '/superuser/aggregatelogs',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'listAllAggregateLogs',
        summary: 'Returns the aggregated logs for the current system.',
        security: [{ oauth2_implicit: ['super:user'] }],
        querystring: Type.Object(timeQuery),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return aggregate(request.query);
    },
  );
}
