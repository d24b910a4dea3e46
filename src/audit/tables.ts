export interface AuditTables {
  /** One row per audited action (Quay's LogEntry). Names, not ids: an entry outlives what it names. */
  audit_log: {
    id: string;
    kind: string;
    namespace: string | null;
    /** Full repository name (`namespace/name`). */
    repository: string | null;
    performer: string | null;
    performer_kind: 'user' | 'robot' | null;
    ip: string | null;
    /** JSON object. */
    metadata: string;
    /** Epoch milliseconds. */
    logged_at: number;
  };
}
