import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { BlobStore } from '../../src/platform/blobs/blob-store.js';
import { digestOf } from '../../src/platform/blobs/digest.js';
import { NotFound } from '../../src/platform/errors.js';
import { randomToken } from '../../src/platform/ids.js';

/** The behaviour every BlobStore implementation must have (filesystem now, S3 later). */
export function blobStoreContract(
  name: string,
  create: () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>,
): void {
  const withStore = async (fn: (store: BlobStore) => Promise<void>) => {
    const { store, cleanup } = await create();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };
  const put = async (store: BlobStore, content: string) => {
    const id = randomToken();
    await store.startUpload(id);
    await store.appendUpload(id, 0, Readable.from([Buffer.from(content)]));
    const digest = digestOf(Buffer.from(content));
    await store.finishUpload(id, Buffer.byteLength(content), digest);
    return digest;
  };

  test(`${name}: a finished upload becomes a readable blob and the upload disappears`, () =>
    withStore(async (store) => {
      const digest = await put(store, 'hello blob');
      assert.deepEqual(await store.stat(digest), { size: 10 });
      assert.equal(await text(await store.read(digest)), 'hello blob');
      assert.equal(await text(await store.read(digest, { start: 6, end: 9 })), 'blob');
      const uploads = [];
      for await (const u of store.listUploads()) uploads.push(u);
      assert.equal(uploads.length, 0);
    }));

  test(`${name}: chunks append at offsets; bytes past the offset from a failed write are overwritten; finish truncates`, () =>
    withStore(async (store) => {
      const id = randomToken();
      await store.startUpload(id);
      assert.equal(await store.appendUpload(id, 0, Readable.from([Buffer.from('abc')])), 3);
      await store.appendUpload(id, 3, Readable.from([Buffer.from('XXXXXXXX')])); // a write the caller did not keep
      assert.equal(await store.appendUpload(id, 3, Readable.from([Buffer.from('def')])), 3);
      assert.equal(await text(await store.readUpload(id, 6)), 'abcdef');
      const digest = digestOf(Buffer.from('abcdef'));
      await store.finishUpload(id, 6, digest);
      assert.equal(await text(await store.read(digest)), 'abcdef');
    }));

  test(`${name}: a blob is not visible before its upload finishes`, () =>
    withStore(async (store) => {
      const id = randomToken();
      await store.startUpload(id);
      await store.appendUpload(id, 0, Readable.from([Buffer.from('partial')]));
      const digest = digestOf(Buffer.from('partial'));
      assert.equal(await store.stat(digest), undefined);
      const listed = [];
      for await (const b of store.list()) listed.push(b.digest);
      assert.deepEqual(listed, []);
      await store.abortUpload(id);
      await assert.rejects(store.readUpload(id, 0), NotFound);
    }));

  test(`${name}: finishing an existing digest again is idempotent; empty blobs work`, () =>
    withStore(async (store) => {
      const first = await put(store, 'same');
      const second = await put(store, 'same');
      assert.equal(first, second);
      assert.equal(await text(await store.read(first)), 'same');
      const empty = await put(store, '');
      assert.deepEqual(await store.stat(empty), { size: 0 });
      assert.equal(await text(await store.read(empty)), '');
    }));

  test(`${name}: missing things: stat undefined, read and append NotFound, delete and abort no-ops`, () =>
    withStore(async (store) => {
      const missing = digestOf(Buffer.from('never stored'));
      assert.equal(await store.stat(missing), undefined);
      await assert.rejects(store.read(missing), NotFound);
      await assert.rejects(store.appendUpload(randomToken(), 0, Readable.from([Buffer.from('x')])), NotFound);
      await store.delete(missing);
      await store.abortUpload(randomToken());
    }));

  test(`${name}: list shows stored blobs with sizes; delete removes them`, () =>
    withStore(async (store) => {
      const a = await put(store, 'aaa');
      const b = await put(store, 'bbbbb');
      const listed = new Map<string, number>();
      for await (const blob of store.list()) listed.set(blob.digest, blob.size);
      assert.deepEqual(
        listed,
        new Map<string, number>([
          [a, 3],
          [b, 5],
        ]),
      );
      await store.delete(a);
      assert.equal(await store.stat(a), undefined);
      assert.ok(await store.healthy());
    }));

  test(`${name}: concurrent uploads of different blobs do not interfere`, () =>
    withStore(async (store) => {
      const contents = Array.from({ length: 20 }, (_, i) => `blob number ${i} `.repeat(1000));
      const digests = await Promise.all(contents.map((c) => put(store, c)));
      for (const [i, digest] of digests.entries())
        assert.equal(await text(await store.read(digest)), contents[i]);
    }));
}
