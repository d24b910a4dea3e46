import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { formatSyncDate, type MirrorInput, type RepositoryMirror } from '../../registry/mirror/index.js';
import type { QuayDeps } from './plugin.js';

const RepoParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
const NullableString = (description: string) =>
  Type.Optional(Type.Union([Type.Null(), Type.String()], { description }));

const RootRule = Type.Object(
  {
    rule_kind: Type.Unsafe<'tag_glob_csv'>({
      type: 'string',
      enum: ['tag_glob_csv'],
      description: 'The kind of rule type',
    }),
    rule_value: Type.Array(Type.String(), { description: 'Array of tag patterns' }),
  },
  { description: 'A list of glob-patterns used to determine which tags should be synchronized.' },
);
const RegistryConfig = Type.Object({
  verify_tls: Type.Optional(
    Type.Boolean({
      description:
        'Determines whether HTTPs is required and the certificate is verified when communicating with the external repository.',
    }),
  ),
  unsigned_images: Type.Optional(
    Type.Boolean({
      description:
        'Determines whether the image signature will be verified when pulling from the external repository.',
    }),
  ),
  proxy: Type.Optional(
    Type.Object(
      {
        https_proxy: NullableString('Value for HTTPS_PROXY environment variable during sync.'),
        http_proxy: NullableString('Value for HTTP_PROXY environment variable during sync.'),
        no_proxy: NullableString('Value for NO_PROXY environment variable during sync.'),
      },
      { description: 'Proxy configuration for use during synchronization.' },
    ),
  ),
});

/** Quay's `common_properties` of the mirror schemas (endpoints/api/mirror.py). */
const common = {
  is_enabled: Type.Optional(Type.Boolean({ description: 'Used to enable or disable synchronizations.' })),
  external_reference: Type.Optional(Type.String({ description: 'Location of the external repository.' })),
  external_registry_username: NullableString('Username used to authenticate with external registry.'),
  external_registry_password: NullableString('Password used to authenticate with external registry.'),
  sync_start_date: Type.Optional(
    Type.String({ description: 'Determines the next time this repository is ready for synchronization.' }),
  ),
  sync_interval: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'Number of seconds after next_start_date to begin synchronizing.',
    }),
  ),
  robot_username: Type.Optional(
    Type.String({ description: 'Username of robot which will be used for image pushes.' }),
  ),
  root_rule: Type.Optional(RootRule),
  external_registry_config: Type.Optional(RegistryConfig),
  skopeo_timeout_interval: Type.Optional(
    Type.Integer({
      minimum: 300,
      description: 'Number of seconds mirroring job will run before timing out.',
    }),
  ),
  architecture_filter: Type.Optional(
    Type.Union([Type.Null(), Type.Array(Type.String())], {
      description: 'List of architectures to mirror from multi-arch images. Empty array or null means all.',
    }),
  ),
};
const UpdateBody = Type.Object(common, { description: 'Update the repository mirroring configuration.' });
const CreateBody = Type.Object(
  {
    ...common,
    external_reference: Type.String({ description: 'Location of the external repository.' }),
    sync_interval: Type.Integer({
      minimum: 0,
      description: 'Number of seconds after next_start_date to begin synchronizing.',
    }),
    sync_start_date: Type.String({
      description: 'Determines the next time this repository is ready for synchronization.',
    }),
    root_rule: RootRule,
    skopeo_timeout_interval: Type.Integer({
      minimum: 300,
      description: 'Number of seconds mirroring job will run before timing out.',
    }),
    robot_username: Type.String({ description: 'Username of robot which will be used for image pushes.' }),
  },
  { description: 'Create the repository mirroring configuration.' },
);

/** The wire body → the service's input; absent keys stay absent (a partial update changes only what is given). */
function toInput(body: Static<typeof UpdateBody>): MirrorInput {
  const input: MirrorInput = {};
  if (body.is_enabled !== undefined) input.isEnabled = body.is_enabled;
  if (body.external_reference !== undefined) input.externalReference = body.external_reference;
  if (body.external_registry_username !== undefined) input.username = body.external_registry_username;
  if (body.external_registry_password !== undefined) input.password = body.external_registry_password;
  if (body.external_registry_config !== undefined) input.registryConfig = body.external_registry_config;
  if (body.sync_interval !== undefined) input.syncInterval = body.sync_interval;
  if (body.sync_start_date !== undefined) input.syncStartDate = body.sync_start_date;
  if (body.root_rule !== undefined) input.tagGlobs = body.root_rule.rule_value;
  if (body.robot_username !== undefined) input.robotUsername = body.robot_username;
  if (body.skopeo_timeout_interval !== undefined) input.skopeoTimeout = body.skopeo_timeout_interval;
  if (body.architecture_filter !== undefined) input.architectureFilter = body.architecture_filter;
  return input;
}

/** Quay's ViewMirrorConfig. */
const view = (m: RepositoryMirror) => ({
  is_enabled: m.isEnabled,
  mirror_type: 'PULL',
  external_reference: m.externalReference,
  external_registry_username: m.username,
  external_registry_config: m.registryConfig,
  sync_interval: m.syncInterval,
  sync_start_date: m.syncStartDate === null ? null : formatSyncDate(m.syncStartDate),
  sync_expiration_date: m.syncExpirationDate === null ? null : formatSyncDate(m.syncExpirationDate),
  sync_retries_remaining: m.syncRetriesRemaining,
  sync_status: m.syncStatus,
  root_rule: { rule_kind: 'tag_glob_csv', rule_value: m.tagGlobs },
  robot_username: m.robotUsername,
  skopeo_timeout_interval: m.skopeoTimeout,
  architecture_filter: m.architectureFilter,
});

const security = [{ oauth2_implicit: ['repo:admin'] }];
/** Quay answers mirror creates and updates with 201 and the JSON string "". */
const emptyJson = JSON.stringify('');

/** Repository mirroring (`/repository/{r}/mirror`), all for repository admins. */
export async function mirrorRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const admin = (request: { subject: Subject; params: { namespace: string; repository: string } }) =>
    deps.access.repository(
      request.subject,
      `${request.params.namespace}/${request.params.repository}`,
      'admin',
    );

  app.get(
    '/repository/:namespace/:repository/mirror',
    {
      schema: {
        tags: ['mirror'],
        operationId: 'getRepoMirrorConfig',
        summary: 'Return the Mirror configuration for a given Repository.',
        security,
        params: RepoParams,
      },
    },
    async (request) => view(await deps.mirror.get(await admin(request))),
  );

  app.post(
    '/repository/:namespace/:repository/mirror',
    {
      schema: {
        tags: ['mirror'],
        operationId: 'createRepoMirrorConfig',
        summary: 'Create a RepoMirrorConfig for a given Repository.',
        security,
        params: RepoParams,
        body: CreateBody,
      },
    },
    async (request, reply) => {
      const repo = await admin(request);
      const body = request.body;
      await deps.mirror.create(
        repo,
        {
          ...toInput(body),
          externalReference: body.external_reference,
          syncInterval: body.sync_interval,
          syncStartDate: body.sync_start_date,
          tagGlobs: body.root_rule.rule_value,
          robotUsername: body.robot_username,
          skopeoTimeout: body.skopeo_timeout_interval,
        },
        request.subject,
      );
      return reply.code(201).type('application/json').send(emptyJson);
    },
  );

  app.put(
    '/repository/:namespace/:repository/mirror',
    {
      schema: {
        tags: ['mirror'],
        operationId: 'changeRepoMirrorConfig',
        summary: "Allow users to modifying the repository's mirroring configuration.",
        security,
        params: RepoParams,
        body: UpdateBody,
      },
    },
    async (request, reply) => {
      await deps.mirror.update(await admin(request), toInput(request.body));
      return reply.code(201).type('application/json').send(emptyJson);
    },
  );

  app.post(
    '/repository/:namespace/:repository/mirror/sync-now',
    {
      schema: {
        tags: ['mirror'],
        operationId: 'syncNow',
        summary: "Update the sync_status for a given Repository's mirroring configuration.",
        security,
        params: RepoParams,
      },
    },
    async (request, reply) => {
      await deps.mirror.requestSync(await admin(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/repository/:namespace/:repository/mirror/sync-cancel',
    {
      schema: {
        tags: ['mirror'],
        operationId: 'syncCancel',
        summary: "Update the sync_status for a given Repository's mirroring configuration.",
        security,
        params: RepoParams,
      },
    },
    async (request, reply) => {
      await deps.mirror.cancel(await admin(request));
      return reply.code(204).send();
    },
  );
}
