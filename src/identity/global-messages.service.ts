import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { newId } from '../platform/ids.js';
import type { GlobalMessagesStore } from './global-messages.store.js';

export const messageSeverities = ['info', 'warning', 'error'] as const;
export const messageMediaTypes = ['text/plain', 'text/markdown'] as const;

export interface GlobalMessage {
  uuid: string;
  content: string;
  severity: (typeof messageSeverities)[number];
  mediaType: (typeof messageMediaTypes)[number];
}

/** Messages a superuser shows to every visitor of the UI (Quay's global messages). Anyone may read them. */
export class GlobalMessagesService {
  constructor(
    private readonly store: GlobalMessagesStore,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async list(): Promise<GlobalMessage[]> {
    return (await this.store.listMessages()).map((row) => ({
      uuid: row.id,
      content: row.content,
      severity: row.severity as GlobalMessage['severity'],
      mediaType: row.media_type as GlobalMessage['mediaType'],
    }));
  }

  async create(input: Omit<GlobalMessage, 'uuid'>): Promise<GlobalMessage> {
    const message = { uuid: newId(), ...input };
    await this.store.insertMessage({
      id: message.uuid,
      content: input.content,
      media_type: input.mediaType,
      severity: input.severity,
      created_at: this.clock.now(),
    });
    this.events.emit({ type: 'message.created', uuid: message.uuid });
    return message;
  }

  /** Deletes a message; deleting one that does not exist is not an error, as in Quay. */
  async delete(uuid: string): Promise<void> {
    if (await this.store.deleteMessage(uuid)) this.events.emit({ type: 'message.deleted', uuid });
  }
}
