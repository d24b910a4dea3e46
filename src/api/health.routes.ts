import type { FastifyInstance } from 'fastify';

/** Liveness (`/health`: the process answers) and readiness (`/ready`: database and blob store usable). */
export function healthRoutes(app: FastifyInstance, ready: () => Promise<Record<string, boolean>>): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const checks = await ready();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
  });
}
