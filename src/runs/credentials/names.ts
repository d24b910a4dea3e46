import { Invalid } from '../../platform/errors.js';

/** Names of stored secrets and credentials: what pipelines refer to them by. */
const CREDENTIAL_NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Keys of a secret: those of a Kubernetes secret, which Rancher's `envFrom.sourceKey` names. */
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

export function checkCredentialName(name: string): void {
  if (!CREDENTIAL_NAME.test(name)) {
    throw new Invalid(
      'INVALID_CREDENTIAL_NAME',
      `invalid name ${JSON.stringify(name)}: lower-case letters, digits, '.', '_' and '-', at most 64, starting and ending with a letter or digit`,
    );
  }
}

export function checkSecretKey(key: string): void {
  if (!SECRET_KEY.test(key)) {
    throw new Invalid(
      'INVALID_SECRET_KEY',
      `invalid secret key ${JSON.stringify(key)}: letters, digits, '.', '_' and '-', at most 253`,
    );
  }
}
