export { MemoryLogStore, type LogStore, type LogStream, type StoredLog } from './log-store.js';
export { DEFAULT_LOG_MAX_BYTES_PER_STEP, FsLogStore, type FsLogStoreOptions } from './logs/fs-log-store.js';
export type {
  LogFollowOptions,
  LogLine,
  LogLineStream,
  LogPage,
  LogReadOptions,
  ReadableLogStore,
} from './logs/readable-log-store.js';
export { runsMigrations } from './migrations.js';
export {
  dialectOfFile,
  parseDefinition,
  RunNotTriggered,
  RunsService,
  type JobView,
  type PipelineInput,
  type PipelineView,
  type RunDetail,
  type RunSummary,
  type RunTrigger,
  type SavedPipeline,
  type StepView,
} from './runs.service.js';
export { RunsStore } from './runs.store.js';
export { LOST_LEASE_REASON, Scheduler, type SchedulerOptions, type SecretResolver } from './scheduler.js';
export { errorResult, scriptStepRunners, type ScriptExecutors } from './script-steps.js';
export {
  ProvenancePublisher,
  slipwayVersion,
  verifyEnvelope,
  type BuildFacts,
  type DsseEnvelope,
  type ProvenanceStatement,
} from './provenance.js';
export { ImageSteps, type ImageStepsOptions } from './steps/image-steps.js';
export { checkoutStepRunner, checkoutStepRunners, type CheckoutStepOptions } from './steps/checkout.step.js';
export {
  staticRegistryCredentials,
  type RegistryCredentialStore,
  type StaticCredential,
} from './steps/registry-auth.js';
export type { StepContext, StepRunner, StepRunners } from './step-runner.js';
export { RUN_POLICIES, TRIGGER_KINDS, type RunPolicy, type RunsTables, type TriggerKind } from './tables.js';
export {
  TriggersService,
  WEBHOOK_PROVIDERS,
  type CronTrigger,
  type ImageTrigger,
  type PipelineTrigger,
  type TriggerType,
  type WebhookProvider,
  type WebhookResult,
  type WebhookTrigger,
} from './triggers/index.js';
