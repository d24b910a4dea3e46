import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createPostgresDatabase, forEachDatabase, postgresAvailable } from '../support/databases.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer } from '../support/server.js';

forEachDatabase((database) => {
  describe(`upload sessions across a restart on ${database}`, () => {
    test('a PATCH after a restart continues at the stored offset and the digest still checks out', async (t) => {
      if (database === 'postgres' && !(await postgresAvailable())) return t.skip('PostgreSQL not reachable');
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'slipway-restart-'));
      const pg = database === 'postgres' ? await createPostgresDatabase() : undefined;
      t.after(async () => {
        await pg?.drop();
        await rm(dataDir, { recursive: true, force: true });
      });
      const config = { databaseUrl: pg?.url };
      const first = Buffer.alloc(300_000, 'a');
      const second = Buffer.alloc(200_000, 'b');
      const digest = `sha256:${createHash('sha256').update(first).update(second).digest('hex')}`;

      const before = await startTestServer({ dataDir, config });
      let client = new RegistryClient(before.url, { username: 'admin', password: adminPassword });
      const start = await client.request('POST', '/v2/admin/resume/blobs/uploads/');
      const location = start.headers.get('location')!;
      const patch1 = await client.request('PATCH', location, {
        body: first,
        headers: { 'content-range': `0-${first.length - 1}`, 'content-type': 'application/octet-stream' },
      });
      assert.equal(patch1.headers.get('range'), `0-${first.length - 1}`);
      await before.close();

      const after = await startTestServer({ dataDir, config });
      client = new RegistryClient(after.url, { username: 'admin', password: adminPassword });
      const status = await client.request('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${first.length - 1}`);
      const stale = await client.request('PATCH', location, {
        body: second,
        headers: { 'content-range': `0-${second.length - 1}`, 'content-type': 'application/octet-stream' },
      });
      assert.equal(stale.status, 416, 'a chunk at the wrong offset is refused');
      const patch2 = await client.request('PATCH', location, {
        body: second,
        headers: {
          'content-range': `${first.length}-${first.length + second.length - 1}`,
          'content-type': 'application/octet-stream',
        },
      });
      assert.equal(patch2.status, 202);
      const done = await client.request('PUT', `${location}?digest=${digest}`);
      assert.equal(done.status, 201, done.body.toString());
      const blob = await client.request('GET', `/v2/admin/resume/blobs/${digest}`);
      assert.equal(blob.body.length, first.length + second.length);
      assert.equal(`sha256:${createHash('sha256').update(blob.body).digest('hex')}`, digest);
      await after.close();
    });
  });
});
