import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsBlobStore } from '../../src/platform/blobs/fs-blob-store.js';
import { blobStoreContract } from '../contracts/blob-store.contract.js';

blobStoreContract('fs blob store', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-blobs-'));
  return {
    store: await new FsBlobStore(dir).init(),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
