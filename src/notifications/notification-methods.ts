import { Invalid } from '../platform/errors.js';
import type { Mailer } from '../platform/mailer.js';
import type { OutboundPolicy } from '../platform/outbound.js';
import { JsonTemplate } from './json-template.js';
import { describeEvent, type AnyNotificationEvent, type Level } from './notification-events.js';

/** Quay's notification methods (notifications/notificationmethod.py) that Slipway delivers. */
export const notificationMethods = ['webhook', 'slack', 'email'] as const;
export type NotificationMethod = (typeof notificationMethods)[number];

export type MethodConfig = Record<string, unknown>;

const emailPattern = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const slackColors: Record<Level, string> = {
  info: '#ffffff',
  warning: 'warning',
  error: 'danger',
  success: 'good',
  primary: 'good',
};

const missing = (field: string, message: string) =>
  new Invalid('INVALID_NOTIFICATION_CONFIG', `${field}: ${message}`, { field });

/** Thrown when a delivery fails: the attempt counts as a failure and is retried later. */
export class DeliveryFailed extends Error {}

export interface MethodDeps {
  outbound: OutboundPolicy;
  mailer: Mailer;
}

/** Checks a method's configuration when a notification is created; the 400 names the field. */
export function validateMethodConfig(
  method: NotificationMethod,
  config: MethodConfig,
  outbound: OutboundPolicy,
): void {
  switch (method) {
    case 'webhook': {
      if (typeof config.url !== 'string' || config.url === '')
        throw missing('config.url', 'Missing webhook URL');
      outbound.validateUrl(config.url, 'config.url');
      if (config.template !== undefined && config.template !== null && config.template !== '') {
        if (typeof config.template !== 'string') throw missing('config.template', 'must be a JSON string');
        new JsonTemplate(config.template, 'config.template');
      }
      return;
    }
    case 'slack':
      if (typeof config.url !== 'string' || config.url === '')
        throw missing('config.url', 'Missing Slack Callback URL');
      outbound.validateUrl(config.url, 'config.url');
      return;
    case 'email':
      if (typeof config.email !== 'string' || config.email === '')
        throw missing('config.email', 'Missing e-mail address');
      if (!emailPattern.test(config.email)) throw missing('config.email', 'Invalid e-mail address');
      return;
  }
}

async function post(deps: MethodDeps, what: string, url: string, payload: unknown): Promise<void> {
  let status: number;
  try {
    status = (await deps.outbound.postJson(url, payload)).status;
  } catch (err) {
    throw new DeliveryFailed(`${what} to ${new URL(url).host} failed: ${(err as Error).message}`);
  }
  if (status < 200 || status >= 300)
    throw new DeliveryFailed(`${status} response for ${what} to ${new URL(url).host}`);
}

/** Delivers one event by one method; throws DeliveryFailed (or the transport's error) on failure. */
export async function perform(
  deps: MethodDeps,
  method: NotificationMethod,
  config: MethodConfig,
  event: AnyNotificationEvent,
  data: Record<string, unknown>,
): Promise<void> {
  const description = describeEvent(event);
  switch (method) {
    case 'webhook': {
      const template =
        typeof config.template === 'string' && config.template !== ''
          ? new JsonTemplate(config.template, 'config.template')
          : undefined;
      await post(deps, 'webhook', String(config.url), template ? template.apply(data) : data);
      return;
    }
    case 'slack': {
      const summary = description.summary(data);
      await post(deps, 'Slack', String(config.url), {
        text: summary,
        username: 'quayiobot',
        attachments: [
          {
            fallback: summary,
            text: description.message(data),
            color: slackColors[description.level],
            mrkdwn_in: ['text'],
          },
        ],
      });
      return;
    }
    case 'email': {
      const text = description.message(data).replace(/<([^|>]+)\|([^>]+)>/g, '$2 ($1)');
      try {
        await deps.mailer.send({ to: String(config.email), subject: description.summary(data), text });
      } catch (err) {
        throw new DeliveryFailed(`e-mail failed: ${(err as Error).message}`);
      }
      return;
    }
  }
}
