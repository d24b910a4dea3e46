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
  /** The durable delivery queue: one row per notification to send, until it is sent or given up. */
  notification_deliveries: {
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
  };
}
