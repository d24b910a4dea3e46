import type { Generated } from 'kysely';
import type { RepositoryState, Visibility } from '../identity/index.js';

export interface RegistryTables {
  repositories: {
    id: string;
    namespace: string;
    name: string;
    visibility: Visibility;
    description: Generated<string>;
    state: Generated<RepositoryState>;
    kind: Generated<string>;
    created_at: number;
  };
  blobs: {
    digest: string;
    size: number;
    created_at: number;
    /** Last upload, mount or existence check: gc keeps an unreferenced blob for a grace period after it. */
    last_used_at: number;
  };
  repository_blobs: {
    repository_id: string;
    digest: string;
    created_at: number;
  };
  manifests: {
    repository_id: string;
    digest: string;
    media_type: string;
    artifact_type: string | null;
    subject_digest: string | null;
    annotations: string | null;
    size: number;
    bytes: Uint8Array;
    created_at: number;
  };
  manifest_blobs: {
    repository_id: string;
    manifest_digest: string;
    blob_digest: string;
  };
  manifest_children: {
    repository_id: string;
    manifest_digest: string;
    child_digest: string;
  };
  /** Tag history: the row with `end_ts` null is the tag's current target. */
  tags: {
    id: string;
    repository_id: string;
    name: string;
    manifest_digest: string;
    start_ts: number;
    end_ts: number | null;
    /** When the tag stops being served unless moved first (Quay's tag expiration); the row stays open until then. */
    expires_at: number | null;
    /** 1 when the row was written by a restore (Quay's `reversion`). */
    reversion: Generated<number>;
    /** 1 when the tag may not be moved, deleted or expired. */
    immutable: Generated<number>;
  };
  uploads: {
    id: string;
    repository_id: string;
    size: number;
    created_at: number;
    updated_at: number;
  };
}
