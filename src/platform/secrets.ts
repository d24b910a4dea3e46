import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Encrypts secrets at rest (signing keys, stored credentials) with AES-256-GCM
 * under one master key. Replicas sharing a database must share the key
 * (SLIPWAY_SECRET_KEY); the embedded default keeps it in `<data>/secret.key`.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromPassphrase(passphrase: string): SecretBox {
    return new SecretBox(createHash('sha256').update(passphrase).digest());
  }

  /** Reads the key file in `dataDir`, creating it (mode 0600) on first use. */
  static async fromDataDir(dataDir: string): Promise<SecretBox> {
    const file = path.join(dataDir, 'secret.key');
    try {
      return SecretBox.fromPassphrase((await readFile(file, 'utf8')).trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(dataDir, { recursive: true });
    const generated = randomBytes(32).toString('base64url');
    try {
      await writeFile(file, generated + '\n', { mode: 0o600, flag: 'wx' });
      return SecretBox.fromPassphrase(generated);
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return SecretBox.fromDataDir(dataDir);
      throw err;
    }
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined)
      throw new Error('sealed secret has an unknown format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}
