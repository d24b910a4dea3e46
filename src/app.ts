import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { ping } from './platform/db/database.js';
import { healthRoutes } from './api/health.routes.js';
import { trackRequestContext } from './api/request-context.hook.js';
import { ociRoutes } from './api/oci/routes.js';
import { quayRoutes } from './api/quay/plugin.js';
import { oauthRoutes } from './api/oauth/routes.js';
import { logStreamRoutes } from './api/runs/log-stream.routes.js';
import { pipelinesRoutes } from './api/runs/pipelines.routes.js';
import { credentialsRoutes } from './api/runs/credentials.routes.js';
import { hooksRoutes } from './api/runs/hooks.routes.js';
import { customTriggerSetupRoutes, triggerWebhookRoutes } from './api/quay/trigger.routes.js';
import { rancherRoutes } from './api/rancher/plugin.js';
import { allScopes } from './identity/index.js';
import { createServices, type Infrastructure, type Services } from './services.js';

export interface App {
  app: FastifyInstance;
  services: Services;
}

/** The composition root: services from infrastructure, faces from services. */
export async function buildApp(infra: Infrastructure): Promise<App> {
  const services = await createServices(infra);
  const app = Fastify({
    logger: infra.config.logLevel === 'silent' ? false : { level: infra.config.logLevel },
    exposeHeadRoutes: false,
    // Quay clients call both `/api/v1/user` and `/api/v1/user/`.
    routerOptions: { ignoreTrailingSlash: true },
    // Registry clients send large bodies and keep connections open between layers.
    keepAliveTimeout: 65_000,
    bodyLimit: infra.config.maxManifestBytes,
    // Per-request logs only when debugging: a registry serves thousands of small requests a second.
    logController: new LogController({
      disableRequestLogging: infra.config.logLevel !== 'debug' && infra.config.logLevel !== 'trace',
    }),
  });

  // Subscribers of the event bus (usage logs, notifications) read the caller's address from it.
  trackRequestContext(app);
  // Queued usage-log writes, exports and notification spawns finish before the database closes.
  app.addHook('onClose', async () => {
    await services.audit.settle();
    await services.notifications.settle();
    await services.cronTriggers.stop();
    await services.eventTriggers.settle();
    await services.repositoryBuilds.settle();
  });

  healthRoutes(app, async () => ({
    database: await ping(infra.db).then(
      () => true,
      () => false,
    ),
    blobs: await infra.blobStore.healthy(),
  }));
  // The Quay API's /discovery document is generated from the route schemas of the routes tagged below.
  await app.register(import('@fastify/swagger'), {
    swagger: {
      info: { title: 'Slipway (Quay-compatible API)', version: '1' },
      basePath: '/',
      securityDefinitions: {
        oauth2_implicit: {
          type: 'oauth2',
          flow: 'implicit',
          authorizationUrl: '/oauth/authorize',
          scopes: Object.fromEntries(allScopes.map((s) => [s, s])),
        },
      },
    },
    hideUntagged: true,
  });
  await app.register(ociRoutes, { ...services, publicUrl: infra.config.publicUrl });
  await app.register(quayRoutes, { ...services, publicUrl: infra.config.publicUrl, prefix: '/api/v1' });
  await app.register(oauthRoutes, services);
  // Quay's build-trigger webhooks (raw bodies, for GitHub signatures) and its custom-git trigger setup page.
  await app.register(triggerWebhookRoutes, { buildTriggers: services.buildTriggers });
  await app.register(customTriggerSetupRoutes, { ...services, publicUrl: infra.config.publicUrl });
  // Webhooks of source hosts; the plugin keeps request bodies raw for their signatures.
  await app.register(hooksRoutes, { triggers: services.triggers, prefix: '/api/slipway/v1' });
  await app.register(pipelinesRoutes, { ...services, prefix: '/api/slipway/v1' });
  await app.register(credentialsRoutes, { ...services, prefix: '/api/slipway/v1' });
  // Once for the whole server (it owns the HTTP upgrade event); faces declare `websocket: true` routes.
  await app.register(import('@fastify/websocket'));
  await app.register(logStreamRoutes, {
    logs: services.stepLogs,
    credentials: services.credentials,
    // Whoever may read the namespace of the step's pipeline; superusers also read logs of no known step.
    canRead: async (stepId, subject) =>
      services.policy.isSuperuser(subject) || services.runs.canReadStep(stepId, subject),
    prefix: '/api/slipway/v1',
  });
  // Rancher's /v3 pipelines API; after the WebSocket plugin, for its log sockets.
  await app.register(rancherRoutes, { ...services, publicUrl: infra.config.publicUrl, prefix: '/v3' });
  return { app, services };
}
