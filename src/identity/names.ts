import { Invalid } from '../platform/errors.js';

// A namespace is the first component of repository names, so it follows the OCI path-component rule.
const namespacePattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

export function validateNamespaceName(name: string, field = 'name'): string {
  if (name.length < 2 || name.length > 255 || !namespacePattern.test(name)) {
    throw new Invalid(
      'INVALID_NAME',
      `${field} must be 2-255 characters of a-z, 0-9 and single . _ - separators`,
      { field, value: name },
    );
  }
  return name;
}
