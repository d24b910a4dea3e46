import { EventEmitter } from 'node:events';

/** Every change a user can make is announced here; notifications, triggers and the audit log subscribe. */
export type DomainEvent =
  | { type: 'repository.created'; repository: string; actor: string }
  | {
      type: 'manifest.pushed';
      repository: string;
      digest: string;
      mediaType: string;
      tag?: string;
      actor: string;
    }
  | { type: 'manifest.deleted'; repository: string; digest: string; actor: string }
  | { type: 'tag.deleted'; repository: string; tag: string; actor: string }
  | { type: 'blob.deleted'; repository: string; digest: string; actor: string };

type Handler<T extends DomainEvent['type']> = (event: Extract<DomainEvent, { type: T }>) => void;

/** In-process event bus. Handlers run synchronously after the change is committed and must not throw. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  on<T extends DomainEvent['type']>(type: T, handler: Handler<T>): () => void {
    this.emitter.on(type, handler);
    return () => this.emitter.off(type, handler);
  }

  emit(event: DomainEvent): void {
    this.emitter.emit(event.type, event);
  }
}
