import { Invalid } from '../platform/errors.js';

// A namespace is the first component of repository names, so it follows the OCI path-component rule.
const namespacePattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
// Quay's rule for robot short names and team names.
const shortNamePattern = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function validateNamespaceName(name: string, field = 'name'): string {
  if (name.length < 2 || name.length > 255 || !namespacePattern.test(name)) {
    throw new Invalid(
      'INVALID_NAME',
      `${field} must be 2-255 characters of a-z, 0-9 and single . _ - separators`,
      {
        field,
        value: name,
      },
    );
  }
  return name;
}

export function validateTeamName(name: string): string {
  if (name.length < 2 || name.length > 255 || !shortNamePattern.test(name)) {
    throw new Invalid('INVALID_TEAM_NAME', `Invalid team name ${name}`, { field: 'teamname', value: name });
  }
  return name;
}

export function validateRobotShortName(name: string): string {
  if (name.length < 2 || name.length > 255 || !shortNamePattern.test(name)) {
    throw new Invalid(
      'INVALID_ROBOT_NAME',
      `The name for the robot '${name}' is invalid: must match ${shortNamePattern.source}`,
      {
        field: 'robot_shortname',
        value: name,
      },
    );
  }
  return name;
}
