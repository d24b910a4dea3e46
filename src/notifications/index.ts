export {
  notificationEvents,
  namespaceNotificationEvents,
  repositoryEventData,
  repoPushData,
  buildQueuedData,
  buildPhaseData,
  mirrorData,
  quotaEventData,
  formatBytes,
  type AnyNotificationEvent,
  type EventData,
  type NamespaceEventData,
  type NamespaceNotificationEvent,
  type NotificationEvent,
} from './notification-events.js';
export { notificationMethods, type NotificationMethod } from './notification-methods.js';
export {
  NotificationsService,
  type NamespaceTarget,
  type Notification,
  type NotificationInput,
  type RepositoryRef,
} from './notifications.service.js';
export { NotificationsStore } from './notifications.store.js';
export { notificationMigrations } from './migrations.js';
export type { NotificationTables } from './tables.js';
