export {
  receiveWebhook,
  verifyWebhook,
  mapWebhook,
  WEBHOOK_PROVIDERS,
  SIGNATURE_HEADERS,
  EVENT_HEADERS,
  type WebhookOutcome,
  type WebhookProvider,
  type WebhookRequest,
} from './webhooks.js';
export { CronWorker, cronError, assertCron, nextFireTime, type CronWorkerOptions } from './cron.js';
export { EventTriggers } from './event-triggers.js';
export {
  TriggersService,
  type CronTrigger,
  type ImageTrigger,
  type PipelineTrigger,
  type TriggersDependencies,
  type TriggerType,
  type WebhookResult,
  type WebhookTrigger,
} from './triggers.service.js';
export { TriggersStore } from './triggers.store.js';
export { triggerMigrations } from './migrations.js';
export type { TriggerTables } from './tables.js';
export type { StartRun } from './start-run.js';
