import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfig, parseListen } from './config.js';

test('defaults, then environment, then flags', () => {
  assert.equal(loadConfig([], {}).config.listen, '0.0.0.0:5000');
  assert.equal(loadConfig([], {}).config.dataDir, path.resolve('./data'));
  const env = {
    SLIPWAY_LISTEN: '127.0.0.1:6000',
    SLIPWAY_GC_GRACE: '60',
    SLIPWAY_DATABASE_URL: 'postgres://x/y',
  };
  const fromEnv = loadConfig([], env).config;
  assert.equal(fromEnv.listen, '127.0.0.1:6000');
  assert.equal(fromEnv.gcGraceSeconds, 60);
  assert.equal(fromEnv.databaseUrl, 'postgres://x/y');
  const fromFlags = loadConfig(['serve', '--listen', '127.0.0.1:7000', '--data', '/tmp/x'], env);
  assert.equal(fromFlags.config.listen, '127.0.0.1:7000');
  assert.equal(fromFlags.config.dataDir, '/tmp/x');
  assert.deepEqual(fromFlags.positionals, ['serve']);
});

test('invalid settings are refused with their names', () => {
  assert.throws(() => loadConfig([], { SLIPWAY_TOKEN_TTL: '10' }), /tokenTtlSeconds/);
  assert.throws(() => loadConfig([], { SLIPWAY_LOG_LEVEL: 'loud' }), /logLevel/);
  assert.throws(() => loadConfig(['--no-such-flag'], {}), /no-such-flag/);
  assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(() => parseListen('host:99999'));
});
