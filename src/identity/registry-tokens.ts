import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK } from 'jose';
import type { Clock } from '../platform/clock.js';
import { Unauthenticated } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { SecretBox } from '../platform/secrets.js';
import type { IdentityStore } from './identity.store.js';
import { formatScopes, parseScopes } from './scopes.js';
import type { Subject } from './subject.js';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** What a verified registry token says: who, and which actions on which resources. */
export interface TokenGrant {
  subject: Subject;
  access: AccessEntry[];
  expiresAt: number;
}

interface Claims {
  sub?: string;
  /** subject kind: user or robot */
  k?: 'user' | 'robot';
  name?: string;
  su?: boolean;
  /** OAuth scopes capping a user's rights, space-separated */
  sc?: string;
  access?: AccessEntry[];
  exp?: number;
}

function claimsOf(subject: Subject): Claims {
  if (subject.kind === 'robot') return { k: 'robot', name: subject.name };
  if (subject.kind === 'user') {
    return {
      k: 'user',
      name: subject.name,
      su: subject.superuser,
      ...(subject.scopes ? { sc: formatScopes(subject.scopes) } : {}),
    };
  }
  return {};
}

function subjectFrom(payload: Claims): Subject {
  if (!payload.sub) return { kind: 'anonymous' };
  const name = payload.name ?? '';
  if (payload.k === 'robot')
    return { kind: 'robot', id: payload.sub, name, namespace: name.split('+', 1)[0]! };
  return {
    kind: 'user',
    id: payload.sub,
    name,
    superuser: payload.su === true,
    ...(payload.sc !== undefined ? { scopes: parseScopes(payload.sc) } : {}),
  };
}

const issuer = 'slipway';
const cacheLimit = 10_000;

/**
 * Docker registry bearer tokens: ES256 JWTs in the distribution token format.
 * The key pair lives in the database (private part sealed) so every replica signs and verifies alike.
 * Verified tokens are cached until they expire, keeping verification off the per-request cost.
 */
export class RegistryTokens {
  private readonly verified = new Map<string, TokenGrant>();

  private constructor(
    private readonly kid: string,
    private readonly privateKey: CryptoKey | Uint8Array,
    private readonly publicKey: CryptoKey | Uint8Array,
    private readonly service: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  static async load(opts: {
    store: IdentityStore;
    secrets: SecretBox;
    service: string;
    ttlSeconds: number;
    clock: Clock;
  }): Promise<RegistryTokens> {
    let row = await opts.store.latestSigningKey();
    if (!row) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const kid = newId();
      await opts.store
        .insertSigningKey({
          kid,
          algorithm: 'ES256',
          private_key_sealed: opts.secrets.seal(JSON.stringify(await exportJWK(privateKey))),
          public_jwk: JSON.stringify(await exportJWK(publicKey)),
          created_at: opts.clock.now(),
        })
        .catch(() => undefined); // another replica won the race; read theirs below
      row = await opts.store.latestSigningKey();
      if (!row) throw new Error('could not create a token signing key');
    }
    const privateJwk = JSON.parse(opts.secrets.open(row.private_key_sealed)) as JWK;
    return new RegistryTokens(
      row.kid,
      await importJWK(privateJwk, 'ES256'),
      await importJWK(JSON.parse(row.public_jwk) as JWK, 'ES256'),
      opts.service,
      opts.ttlSeconds,
      opts.clock,
    );
  }

  get serviceName(): string {
    return this.service;
  }

  async issue(
    subject: Subject,
    access: AccessEntry[],
  ): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const now = Math.floor(this.clock.now() / 1000);
    const claims: Claims = { ...claimsOf(subject), access };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(subject.kind === 'anonymous' ? '' : subject.id)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(newId())
      .sign(this.privateKey);
    return { token, expiresIn: this.ttlSeconds, issuedAt: new Date(now * 1000) };
  }

  /** Verifies signature, issuer, audience and expiry. Throws Unauthenticated(`invalid_token`) otherwise. */
  async verify(token: string): Promise<TokenGrant> {
    const now = this.clock.now();
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt > now) return cached;
      this.verified.delete(token);
    }
    let payload: Claims;
    try {
      ({ payload } = await jwtVerify<Claims>(token, this.publicKey, {
        issuer,
        audience: this.service,
        algorithms: ['ES256'],
        currentDate: new Date(now),
      }));
    } catch {
      throw new Unauthenticated('UNAUTHORIZED', 'authentication required', { reason: 'invalid_token' });
    }
    const grant: TokenGrant = {
      subject: subjectFrom(payload),
      access: Array.isArray(payload.access) ? payload.access : [],
      expiresAt: (payload.exp ?? 0) * 1000,
    };
    if (this.verified.size >= cacheLimit) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, grant);
    return grant;
  }
}

/** True when the grant allows `action` on the resource (`*` allows every action). */
export function grantAllows(grant: TokenGrant, type: string, name: string, action: string): boolean {
  return grant.access.some(
    (a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')),
  );
}
