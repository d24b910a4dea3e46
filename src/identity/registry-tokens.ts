import { KeyObject, sign as signBytes } from 'node:crypto';
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

/**
 * The `/v2/auth` username with which a registry token is presented as a password, to be exchanged for a
 * token of at most the same access (how buildah and skopeo use a run's token through an auth file).
 */
export const registryTokenUsername = '$token';

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
    private readonly publicJwk: JWK,
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
    const publicJwk = JSON.parse(row.public_jwk) as JWK;
    return new RegistryTokens(
      row.kid,
      await importJWK(privateJwk, 'ES256'),
      await importJWK(publicJwk, 'ES256'),
      publicJwk,
      opts.service,
      opts.ttlSeconds,
      opts.clock,
    );
  }

  get serviceName(): string {
    return this.service;
  }

  /** The server's signing key as verifiers need it: its id and public JWK (EC P-256). */
  get signingKey(): { keyId: string; publicJwk: JWK } {
    return { keyId: this.kid, publicJwk: { ...this.publicJwk, kid: this.kid } };
  }

  /**
   * Signs `bytes` with the server's key: ECDSA P-256 over SHA-256, DER-encoded as DSSE and cosign verifiers
   * expect. For build provenance (DSSE envelopes, whose signed bytes start with "DSSEv1 "); a JWS verifier
   * never accepts such a signature (JWS signs base64url text and uses the raw r||s encoding).
   */
  sign(bytes: Uint8Array): Uint8Array {
    if (this.privateKey instanceof Uint8Array) throw new Error('the signing key is not an EC key');
    return signBytes('sha256', bytes, { key: KeyObject.from(this.privateKey), dsaEncoding: 'der' });
  }

  /**
   * `ttlSeconds` replaces the configured lifetime (a run's token lives as long as its step may); the token
   * never expires after `notAfter` (epoch ms), which an exchanged token takes from the one presented.
   */
  async issue(
    subject: Subject,
    access: AccessEntry[],
    options: { ttlSeconds?: number; notAfter?: number } = {},
  ): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const now = Math.floor(this.clock.now() / 1000);
    const ttlSeconds = Math.max(
      1,
      Math.min(
        options.ttlSeconds ?? this.ttlSeconds,
        options.notAfter === undefined ? Infinity : Math.floor(options.notAfter / 1000) - now,
      ),
    );
    const claims: Claims = { ...claimsOf(subject), access };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(subject.kind === 'anonymous' ? '' : subject.id)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + ttlSeconds)
      .setJti(newId())
      .sign(this.privateKey);
    return { token, expiresIn: ttlSeconds, issuedAt: new Date(now * 1000) };
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
