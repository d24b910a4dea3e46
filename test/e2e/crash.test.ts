import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase, forEachDatabase, postgresAvailable } from '../support/databases.js';
import { spawnServer } from '../support/process.js';
import { RegistryClient } from '../support/registry-client.js';

const password = 'crash-test-password';

interface Pushed {
  tag: string;
  manifest: string;
  blobs: Map<string, Buffer>;
}

/** Pushes one image whose layer goes up in several PATCH chunks; resolves once the manifest PUT was acknowledged. */
async function pushImage(client: RegistryClient, name: string, tag: string): Promise<Pushed> {
  const layer = randomBytes(64 * 1024 + Math.floor(Math.random() * 512 * 1024));
  const config = Buffer.from(JSON.stringify({ tag, nonce: randomBytes(8).toString('hex') }));
  const configDigest = await client.pushBlob(name, config);
  const start = await client.request('POST', `/v2/${name}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`upload start ${start.status}`);
  let location = start.headers.get('location')!;
  const chunk = 64 * 1024;
  for (let offset = 0; offset < layer.length; offset += chunk) {
    const part = layer.subarray(offset, offset + chunk);
    const res = await client.request('PATCH', location, {
      body: part,
      headers: {
        'content-range': `${offset}-${offset + part.length - 1}`,
        'content-type': 'application/octet-stream',
      },
    });
    if (res.status !== 202) throw new Error(`patch ${res.status}`);
    location = res.headers.get('location')!;
  }
  const layerDigest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const done = await client.request('PUT', `${location}?digest=${layerDigest}`);
  if (done.status !== 201) throw new Error(`finish ${done.status}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length },
    ],
  });
  const put = await client.pushManifest(name, tag, manifest);
  if (put.status !== 201) throw new Error(`manifest ${put.status}`);
  return {
    tag,
    manifest,
    blobs: new Map([
      [configDigest, config],
      [layerDigest, layer],
    ]),
  };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

forEachDatabase((database) => {
  describe(`crash safety on ${database}`, () => {
    test('SIGKILL during many concurrent pushes: restart is clean, acknowledged pushes pull back intact, no partial blob', async (t) => {
      if (database === 'postgres' && !(await postgresAvailable())) return t.skip('PostgreSQL not reachable');
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'slipway-crash-'));
      const pg = database === 'postgres' ? await createPostgresDatabase() : undefined;
      const env: Record<string, string> = {
        SLIPWAY_ADMIN_PASSWORD: password,
        ...(pg ? { SLIPWAY_DATABASE_URL: pg.url } : {}),
      };
      let server = await spawnServer({ dataDir, env });
      t.after(async () => {
        await server.stop('SIGKILL');
        await pg?.drop();
        await rm(dataDir, { recursive: true, force: true });
      });

      const client = new RegistryClient(server.url, { username: 'admin', password });
      const acknowledged: Pushed[] = [];
      const workers = Array.from({ length: 12 }, async (_, w) => {
        for (let i = 0; ; i++) {
          try {
            acknowledged.push(await pushImage(client, `admin/crash${w % 3}`, `w${w}-${i}`));
          } catch {
            return; // the server died under this push: it was never acknowledged
          }
        }
      });
      while (acknowledged.length < 15) await new Promise((r) => setTimeout(r, 20));
      await server.stop('SIGKILL');
      await Promise.all(workers);
      assert.ok(acknowledged.length >= 15);

      server = await spawnServer({ dataDir, env });
      const after = new RegistryClient(server.url, { username: 'admin', password });
      for (const push of acknowledged) {
        const name = `admin/crash${Number(push.tag.slice(1).split('-')[0]) % 3}`;
        const manifest = await after.request('GET', `/v2/${name}/manifests/${push.tag}`);
        assert.equal(manifest.status, 200, `${name}:${push.tag} was acknowledged`);
        assert.equal(manifest.body.toString(), push.manifest);
        for (const [digest, bytes] of push.blobs) {
          const blob = await after.request('GET', `/v2/${name}/blobs/${digest}`);
          assert.equal(blob.status, 200);
          assert.ok(blob.body.equals(bytes), `blob ${digest} is intact`);
        }
      }

      // Every file in the content store is complete: its bytes hash to its name.
      const root = path.join(dataDir, 'blobs', 'sha256');
      for (const prefix of await readdir(root)) {
        for (const hex of await readdir(path.join(root, prefix))) {
          assert.equal(await sha256File(path.join(root, prefix, hex)), hex, 'no partial blob in the store');
        }
      }
      // And the restarted server takes new pushes.
      await pushImage(after, 'admin/crash0', 'after-restart');
    });
  });
});
