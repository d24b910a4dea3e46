import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, quotaEventData } from './notification-events.js';

test('formatBytes writes sizes as Quay does (1024-based, two decimals, ties to even)', () => {
  for (const [bytes, text] of [
    [0, '0 bytes'],
    [512, '512 bytes'],
    [1024, '1.00 KB'],
    [1152, '1.12 KB'],
    [858993459, '819.20 MB'],
    [1073741824, '1.00 GB'],
    [1610612736, '1.50 GB'],
    [1099511627776, '1.00 TB'],
  ] as const)
    assert.equal(formatBytes(bytes), text, String(bytes));
});

test('quotaEventData is Quay namespace event data with the quota figures', () => {
  assert.deepEqual(
    quotaEventData({ baseUrl: 'https://registry.example:8443' }, 'acme', {
      thresholdPercent: 80,
      usageBytes: 1600,
      limitBytes: 2000,
    }),
    {
      namespace: 'acme',
      homepage: 'https://registry.example:8443/organization/acme',
      threshold_percent: 80,
      usage_bytes: 1600,
      limit_bytes: 2000,
      usage_percent: 80,
      usage_bytes_formatted: '1.56 KB',
      limit_bytes_formatted: '1.95 KB',
    },
  );
});
