import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

/** An ed25519 key pair in the formats OpenSSH reads: `ssh-ed25519 AAAA… comment` and an OpenSSH private key. */
export interface SshKeyPair {
  publicKey: string;
  privateKey: string;
}

export function generateEd25519(comment: string): SshKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const { seed, pub } = rawEd25519(privateKey);
  const publicBlob = ed25519PublicBlob(pub);
  return {
    publicKey: `ssh-ed25519 ${publicBlob.toString('base64')} ${comment}`,
    privateKey: openSshPrivateKey(publicBlob, seed, pub, comment),
  };
}

/**
 * The OpenSSH public key line of a PEM private key (PKCS#8, PKCS#1, SEC1) of type ed25519; undefined for
 * other formats (an `OPENSSH PRIVATE KEY` keeps its public key inside, but Node cannot read it).
 */
export function publicKeyOfPem(privateKeyPem: string, comment: string): string | undefined {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    return undefined;
  }
  if (key.asymmetricKeyType !== 'ed25519') return undefined;
  return `ssh-ed25519 ${ed25519PublicBlob(rawEd25519(key).pub).toString('base64')} ${comment}`;
}

/** The wire form of an ed25519 public key (RFC 8709): what the key line shows in base64. */
function ed25519PublicBlob(pub: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
}

function rawEd25519(key: KeyObject): { seed: Buffer; pub: Buffer } {
  const jwk = key.export({ format: 'jwk' });
  return { seed: Buffer.from(jwk.d ?? '', 'base64url'), pub: Buffer.from(jwk.x ?? '', 'base64url') };
}

/** PROTOCOL.key of OpenSSH: an unencrypted `openssh-key-v1` container holding one key. */
function openSshPrivateKey(publicBlob: Buffer, seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  let section = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (section.length % 8)) % 8 }, (_, i) => i + 1));
  section = Buffer.concat([section, padding]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob),
    sshString(section),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join(
    '\n',
  );
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
