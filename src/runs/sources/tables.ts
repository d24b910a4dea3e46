/** The tables of pipeline source hosts and users' accounts there (migration `0073_source_accounts`). */
export interface SourceTables {
  /** How Slipway reaches one kind of source host (Rancher's cluster pipeline `githubConfig`): one row per type. */
  source_providers: {
    /** `SourceProviderType`: `github` (GitLab and Bitbucket later). */
    type: string;
    /** `http` or `https`. */
    scheme: string;
    /** host[:port] of the web site: `github.com`, or a GitHub Enterprise server. */
    host: string;
    /** The OAuth application's client id, for the code login; empty when none is configured. */
    client_id: string;
    /** The OAuth application's client secret, sealed with the SecretBox; null when none is configured. */
    client_secret_sealed: string | null;
    enabled: number;
    /** Name of the user who configured it first. */
    created_by: string;
    created_at: number;
    updated_at: number;
  };
  /** A Slipway user's account at a source host, logged in with an access token (Rancher's remote account). */
  remote_accounts: {
    id: string;
    user_id: string;
    /** Unique per user: `<type>-<login>`, lower-case; what pipelines' `remoteAccountName` refers to. */
    name: string;
    type: string;
    /** The account's login at the host. */
    login: string;
    display_name: string;
    avatar_url: string;
    html_url: string;
    access_token_sealed: string;
    created_at: number;
    updated_at: number;
  };
  /** The repositories a remote account saw when last refreshed (Rancher's git repo cache). */
  git_repo_caches: {
    remote_account_id: string;
    user_id: string;
    /** JSON array of `CachedRepository`. */
    repositories: string;
    refreshed_at: number;
  };
}
