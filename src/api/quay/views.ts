import { createHash } from 'node:crypto';
import type { Notification } from '../../notifications/index.js';

export type AvatarKind = 'user' | 'robot' | 'org' | 'team' | 'app';

const colors = [
  '#969696',
  '#aec7e8',
  '#ff7f0e',
  '#ffbb78',
  '#2ca02c',
  '#98df8a',
  '#d62728',
  '#ff9896',
  '#9467bd',
  '#c5b0d5',
  '#8c564b',
  '#c49c94',
  '#e377c2',
  '#f7b6d2',
  '#7f7f7f',
  '#c7c7c7',
  '#bcbd22',
  '#1f77b4',
  '#17becf',
  '#9edae5',
  '#393b79',
];

/** Quay's avatar object, present on every user, robot, team and organization view. */
export function avatar(
  name: string,
  kind: AvatarKind,
): { name: string; hash: string; color: string; kind: AvatarKind } {
  const hash = createHash('md5').update(name).digest('hex');
  return { name, hash, color: colors[parseInt(hash.slice(0, 8), 16) % colors.length]!, kind };
}

/** RFC 2822 dates as Quay formats them: `Fri, 10 May 2024 15:11:00 -0000`. */
export function formatDate(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  return new Date(ms).toUTCString().replace('GMT', '-0000');
}

/** Epoch seconds, as tag `start_ts` / `end_ts` carry them. */
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * Quay's view of a repository or namespace notification, the same in both
 * (repositorynotification_models_interface.py, namespacenotification.py `_notification_view`).
 */
export const notificationView = (n: Notification) => ({
  uuid: n.uuid,
  title: n.title,
  event: n.event,
  method: n.method,
  config: n.config,
  event_config: n.eventConfig,
  number_of_failures: n.numberOfFailures,
});
