export { auditDomainEvents } from './audit-events.js';
export {
  AuditService,
  parseLogDay,
  serviceLevelKinds,
  type AuditEntry,
  type AuditRecord,
  type ExportDestination,
  type LogPage,
  type LogScope,
  type PerformerKind,
} from './audit.service.js';
export { AuditStore } from './audit.store.js';
export { auditMigrations } from './migrations.js';
export type { AuditTables } from './tables.js';
