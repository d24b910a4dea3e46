export { checkCloneUrl, parseCloneUrl, redactUrl, type CloneTransport, type CloneUrl } from './clone-url.js';
export {
  GIT_QUIET_ENV,
  GitAuthProblem,
  gitAuth,
  gitEnvironment,
  hideSecrets,
  type GitAuth,
  type NamedGitCredential,
} from './auth.js';
export {
  checkRemote,
  lsRemote,
  readCommitFile,
  resolveBranch,
  resolveRef,
  type RemoteAccess,
  type RemoteRefs,
} from './remote.js';
