export interface NotificationTables {
  /** Quay's RepositoryNotification: an event of a repository, delivered by a method. */
  repository_notifications: {
    /** The uuid clients address it by. */
    id: string;
    repository_id: string;
    event: string;
    method: string;
    title: string | null;
    /** The method's configuration (JSON), sealed: Slack and webhook URLs carry secrets. */
    config: string;
    /** JSON object. */
    event_config: string;
    /** Failed deliveries in a row; at 3 the notification stops firing, as in Quay. */
    number_of_failures: number;
    created_at: number;
  };
  /** Quay's NamespaceNotification: an event of a whole user or organization (quota_warning, quota_error). */
  namespace_notifications: {
    id: string;
    namespace_id: string;
    event: string;
    method: string;
    title: string | null;
    /** Sealed JSON, as for repository notifications. */
    config: string;
    event_config: string;
    number_of_failures: number;
    created_at: number;
  };
  /** The delivery queue of namespace notifications; the same columns as `notification_deliveries`. */
  namespace_notification_deliveries: DeliveryColumns;
  /**
   * When a quota threshold of a namespace last raised notifications (Quay's QuotaNotificationState):
   * the same threshold does not notify again within the cooldown.
   */
  quota_notification_state: {
    namespace_id: string;
    threshold_percent: number;
    last_notified_at: number;
  };
  /** The durable delivery queue: one row per notification to send, until it is sent or given up. */
  notification_deliveries: DeliveryColumns;
}

export interface DeliveryColumns {
  id: string;
  notification_id: string;
  /** JSON: Quay's event_data for the event. */
  payload: string;
  attempts: number;
  next_attempt_at: number;
  /** A worker holds the row until then; past it, another worker may take it. */
  leased_until: number | null;
  last_error: string | null;
  created_at: number;
}
