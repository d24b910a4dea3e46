import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import type { IdentityService, User } from './identity.service.js';
import type { ServiceKeyRow, ServiceKeysStore } from './service-keys.store.js';

const generateRsaKeyPair = promisify(generateKeyPair);

/** Quay's ServiceKeyApprovalType for keys a superuser created or approved. */
export const superuserApproval = 'Super User API';

export interface ServiceKeyApproval {
  approver: User | null;
  type: string;
  approvedAt: number;
  notes: string;
}

export interface ServiceKey {
  kid: string;
  service: string;
  name: string;
  /** The public key (JWK with its `kid`). */
  jwk: JWK;
  metadata: Record<string, unknown>;
  createdAt: number;
  expiresAt: number | null;
  rotationDurationSeconds: number | null;
  approval: ServiceKeyApproval | null;
}

export interface NewServiceKey {
  key: ServiceKey;
  /** PEM (SubjectPublicKeyInfo). */
  publicKey: string;
  /** PEM (PKCS#1, "RSA PRIVATE KEY"); shown once and never stored. */
  privateKey: string;
}

// Quay's rules (data/model/service_keys.py, util/validation.py).
const serviceNamePattern = /^[a-z0-9_]+$/;
const friendlyNamePattern = /^[\s a-zA-Z0-9\-_:/]*$/;

const keyNotFound = () => new NotFound('SERVICE_KEY_NOT_FOUND', 'Not Found');

function friendlyName(name: string): string {
  if (!friendlyNamePattern.test(name))
    throw new Invalid('INVALID_SERVICE_KEY_NAME', `Invalid service key friendly name: ${name}`, {
      field: 'name',
    });
  return name;
}

/** An expiration given as unix seconds (null: never expires); it must lie in the future. */
function expiration(seconds: number | null, now: number, message: string): number | null {
  if (seconds === null) return null;
  const ms = Math.round(seconds * 1000);
  if (!Number.isFinite(ms))
    throw new Invalid('INVALID_EXPIRATION', 'Invalid expiration date', { field: 'expiration' });
  if (ms <= now) throw new Invalid('EXPIRATION_IN_PAST', message, { field: 'expiration' });
  return ms;
}

/**
 * Service keys (Quay's `/superuser/keys`): RSA keys other services sign their requests with.
 * A superuser creates one (it is approved at once) and receives its private key exactly once;
 * only the public JWK is kept. Keys submitted otherwise wait for a superuser's approval.
 */
export class ServiceKeysService {
  constructor(
    private readonly store: ServiceKeysStore,
    private readonly identity: IdentityService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async list(): Promise<ServiceKey[]> {
    return Promise.all((await this.store.listKeys()).map((row) => this.toKey(row)));
  }

  async get(kid: string): Promise<ServiceKey> {
    const row = await this.store.findKey(kid);
    if (!row) throw keyNotFound();
    return this.toKey(row);
  }

  /**
   * Generates a key for `service`. `approver` (the creating superuser) approves it at once;
   * without one the key waits for approval.
   */
  async create(input: {
    service: string;
    name?: string;
    expiration?: number | null;
    metadata?: Record<string, unknown>;
    notes?: string;
    approver?: User;
  }): Promise<NewServiceKey> {
    if (!serviceNamePattern.test(input.service))
      throw new Invalid('INVALID_SERVICE_NAME', `Invalid service name: ${input.service}`, {
        field: 'service',
      });
    const name = friendlyName(input.name ?? '');
    const now = this.clock.now();
    const expiresAt = expiration(input.expiration ?? null, now, 'Expiration date cannot be in the past');
    const { publicKey, privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
    const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    await this.store.insertKey({
      kid,
      service: input.service,
      name,
      public_jwk: JSON.stringify({ ...publicJwk, kid }),
      metadata: JSON.stringify(input.metadata ?? {}),
      created_at: now,
      expires_at: expiresAt,
      rotation_duration_s: null,
      approver_id: null,
      approval_type: null,
      approved_at: null,
      approval_notes: null,
    });
    this.events.emit({ type: 'service_key.created', kid, service: input.service, name });
    if (input.approver) await this.approve(kid, input.approver, input.notes ?? '');
    return {
      key: await this.get(kid),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
  }

  /** Renames, merges metadata into, or changes the expiration of a key (null or '' removes it). */
  async update(
    kid: string,
    changes: { name?: string; metadata?: Record<string, unknown>; expiration?: number | null | '' },
  ): Promise<ServiceKey> {
    const key = await this.get(kid);
    if (changes.expiration !== undefined) {
      const expiresAt = expiration(
        changes.expiration === '' ? null : changes.expiration,
        this.clock.now(),
        'Cannot have an expiration date in the past',
      );
      await this.store.updateKey(kid, { expires_at: expiresAt });
      this.events.emit({ type: 'service_key.extended', kid, service: key.service, name: key.name });
    }
    if (changes.name !== undefined || changes.metadata !== undefined) {
      await this.store.updateKey(kid, {
        name: changes.name === undefined ? undefined : friendlyName(changes.name),
        metadata:
          changes.metadata === undefined
            ? undefined
            : JSON.stringify({ ...key.metadata, ...changes.metadata }),
      });
      this.events.emit({
        type: 'service_key.modified',
        kid,
        service: key.service,
        name: changes.name ?? key.name,
      });
    }
    return this.get(kid);
  }

  /** Approves a waiting key; approving one already approved changes nothing. */
  async approve(kid: string, approver: User, notes: string): Promise<ServiceKey> {
    const key = await this.get(kid);
    const approved = await this.store.approveKey(kid, {
      approver_id: approver.id,
      approval_type: superuserApproval,
      approved_at: this.clock.now(),
      approval_notes: notes,
    });
    if (approved)
      this.events.emit({ type: 'service_key.approved', kid, service: key.service, name: key.name });
    return this.get(kid);
  }

  async delete(kid: string): Promise<void> {
    const key = await this.get(kid);
    if (!(await this.store.deleteKey(kid))) throw keyNotFound();
    this.events.emit({ type: 'service_key.deleted', kid, service: key.service, name: key.name });
  }

  private async toKey(row: ServiceKeyRow): Promise<ServiceKey> {
    return {
      kid: row.kid,
      service: row.service,
      name: row.name,
      jwk: JSON.parse(row.public_jwk) as JWK,
      metadata: JSON.parse(row.metadata) as Record<string, unknown>,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      rotationDurationSeconds: row.rotation_duration_s,
      approval:
        row.approved_at === null
          ? null
          : {
              approver: row.approver_id ? ((await this.identity.getUser(row.approver_id)) ?? null) : null,
              type: row.approval_type ?? superuserApproval,
              approvedAt: row.approved_at,
              notes: row.approval_notes ?? '',
            },
    };
  }
}
