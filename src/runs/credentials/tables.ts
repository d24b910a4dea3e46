/** The tables of stored run credentials (migration `0072_run_credentials`). Timestamps are epoch milliseconds. */
export interface RunCredentialTables {
  /** A named secret of a namespace: a map key → value that jobs read into environment variables. */
  run_secrets: {
    namespace: string;
    name: string;
    /** JSON array of the keys, in order: what `list` shows. */
    keys: string;
    /** JSON object key → value, sealed with the SecretBox. */
    data_sealed: string;
    created_at: number;
    updated_at: number;
  };
  /** A named git credential of a namespace, used by checkout steps and repository reads. */
  source_credentials: {
    namespace: string;
    name: string;
    /** `GitCredentialKind`. */
    kind: string;
    username: string | null;
    /** The token, password or OpenSSH private key, sealed with the SecretBox. */
    secret_sealed: string;
    /** `ssh-key` only: the OpenSSH public key line. */
    public_key: string | null;
    created_at: number;
    updated_at: number;
  };
  /** A named credential of a namespace for another registry (`host`), used by image steps. */
  registry_credentials: {
    namespace: string;
    name: string;
    /** host[:port] as buildah reaches it. */
    host: string;
    username: string;
    password_sealed: string;
    created_at: number;
    updated_at: number;
  };
}
