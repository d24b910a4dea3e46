import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { Denied, Invalid, NotFound, Unsupported } from '../../platform/errors.js';
import type { SourceProvider, SourceProviderInput } from '../../runs/sources/index.js';
import {
  actionNotAvailable,
  apiRoot,
  collection,
  compact,
  normanTime,
  requestedAction,
  resource,
} from './norman.js';
import type { RancherDeps } from './plugin.js';

/** Slipway is one cluster; its one cluster pipeline carries the cluster's source provider settings. */
const CLUSTER = 'local';

/** `githubConfig` as the tech-preview spec writes it (`clientID`) and as later generations do (`clientId`). */
const GithubConfig = Type.Object({
  scheme: Type.Optional(Type.String({ maxLength: 16 })),
  host: Type.Optional(Type.String({ maxLength: 255 })),
  clientId: Type.Optional(Type.String({ maxLength: 255 })),
  clientID: Type.Optional(Type.String({ maxLength: 255 })),
  clientSecret: Type.Optional(Type.String({ maxLength: 4096 })),
  enabled: Type.Optional(Type.Boolean()),
});
const Spec = Type.Object({
  clusterName: Type.Optional(Type.String()),
  githubConfig: Type.Optional(GithubConfig),
});
/** The tech-preview form nests the fields in `spec`; Norman clients also send them flat. */
const Body = Type.Object({
  spec: Type.Optional(Spec),
  clusterName: Type.Optional(Type.String()),
  githubConfig: Type.Optional(GithubConfig),
});
type Body = Static<typeof Body>;
const IdParams = Type.Object({ id: Type.String() });

/**
 * Cluster pipeline settings: `/v3/clusters/local/clusterpipelines[/local]` and `/v3/clusterpipelines[/local]`.
 * Everyone authenticated reads them (the client secret is write-only and never shown); superusers change them.
 * Rancher's `deploy`/`destroy` actions installed its pipeline engine into a cluster: Slipway runs pipelines
 * itself, so `deploy` is always true and the actions are not offered.
 */
export async function clusterPipelineRoutes(scope: FastifyInstance, deps: RancherDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  for (const base of [`/clusters/${CLUSTER}/clusterpipelines`, '/clusterpipelines']) {
    app.get(base, async (request) => {
      const self = `${apiRoot(request, deps.publicUrl)}${base}`;
      const item = await view(request, deps);
      return collection('clusterPipeline', self, [item], {
        create: deps.policy.isSuperuser(request.subject),
      });
    });

    app.post(base, { schema: { body: Body } }, async (request, reply) => {
      const action = requestedAction(request);
      if (action) throw actionNotAvailable(action);
      const github = githubInput(request.body, true);
      await deps.sourceProviders.configure(request.subject, 'github', github, { create: true });
      return reply.code(201).send(await view(request, deps));
    });

    app.get(`${base}/:id`, { schema: { params: IdParams } }, async (request) => {
      checkId(request.params.id);
      return view(request, deps);
    });

    app.put(`${base}/:id`, { schema: { params: IdParams, body: Body } }, async (request) => {
      checkId(request.params.id);
      const github = githubInput(request.body, false);
      if (github) await deps.sourceProviders.configure(request.subject, 'github', github);
      else if (!canChange(deps, request.subject))
        throw new Denied('SUPERUSER_REQUIRED', 'only superusers may change the cluster pipeline settings');
      return view(request, deps);
    });

    app.post(`${base}/:id`, { schema: { params: IdParams } }, async (request) => {
      checkId(request.params.id);
      throw actionNotAvailable(requestedAction(request));
    });

    app.delete(`${base}/:id`, { schema: { params: IdParams } }, async (request) => {
      checkId(request.params.id);
      throw new Unsupported(
        'MethodNotAllowed',
        'the cluster pipeline of the local cluster cannot be removed: disable its githubConfig instead',
      );
    });
  }
}

function checkId(id: string): void {
  if (id !== CLUSTER && id !== `${CLUSTER}:${CLUSTER}`)
    throw new NotFound('NotFound', `clusterPipeline ${JSON.stringify(id)} not found`);
}

/** The github settings to apply; `required` (a create) insists on them. */
function githubInput(body: Body, required: true): SourceProviderInput;
function githubInput(body: Body, required: false): SourceProviderInput | undefined;
function githubInput(body: Body, required: boolean): SourceProviderInput | undefined {
  const clusterName = body.spec?.clusterName ?? body.clusterName;
  if (clusterName !== undefined && clusterName !== CLUSTER)
    throw new Invalid(
      'InvalidOption',
      `clusterName must be ${JSON.stringify(CLUSTER)}: Slipway is one cluster`,
      {
        field: 'clusterName',
      },
    );
  const config = body.spec?.githubConfig ?? body.githubConfig;
  if (!config) {
    if (required) throw new Invalid('MissingRequired', 'githubConfig is required', { field: 'githubConfig' });
    return undefined;
  }
  return compact({
    scheme: config.scheme,
    host: config.host || undefined,
    clientId: config.clientId ?? config.clientID,
    clientSecret: config.clientSecret,
    enabled: config.enabled,
  });
}

async function view(request: FastifyRequest, deps: RancherDeps) {
  const github = (await deps.sourceProviders.list()).find((p) => p.type === 'github');
  const root = apiRoot(request, deps.publicUrl);
  const self = `${root}/clusters/${CLUSTER}/clusterpipelines/${CLUSTER}`;
  return resource(
    'clusterPipeline',
    self,
    compact({
      id: CLUSTER,
      name: CLUSTER,
      namespaceId: CLUSTER,
      clusterId: CLUSTER,
      created: normanTime(github?.createdAt),
      createdTS: github?.createdAt,
      creatorId: github?.createdBy,
      state: github?.enabled ? 'active' : 'inactive',
      // The spec's fields, flattened as Norman does.
      clusterName: CLUSTER,
      deploy: true,
      githubConfig: github && githubView(github),
      status: compact({ githubApiUrl: github?.apiBase, updated: normanTime(github?.updatedAt) }),
    }),
    {
      update: canChange(deps, request.subject),
      links: { remoteaccounts: `${root}/remoteaccounts`, gitrepocaches: `${root}/gitrepocaches` },
    },
  );
}

const canChange = (deps: RancherDeps, subject: Subject) => deps.policy.isSuperuser(subject);

function githubView(github: SourceProvider) {
  return {
    scheme: github.scheme,
    host: github.host,
    clientId: github.clientId,
    // Write-only: whether one is set shows, never the value.
    clientSecretSet: github.hasClientSecret,
    enabled: github.enabled,
  };
}
