import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundPolicy, parseCidrList } from './outbound.js';

test('internal addresses are refused unless the allow list names them', () => {
  const strict = new OutboundPolicy('');
  for (const address of [
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    'not-an-ip',
  ])
    assert.equal(strict.allowsAddress(address), false, address);
  for (const address of ['8.8.8.8', '2606:4700::1111', '::ffff:1.1.1.1'])
    assert.equal(strict.allowsAddress(address), true, address);

  const loopback = new OutboundPolicy('127.0.0.1/32, fd00::/8');
  assert.equal(loopback.allowsAddress('127.0.0.1'), true);
  assert.equal(loopback.allowsAddress('127.0.0.2'), false);
  assert.equal(loopback.allowsAddress('fd12::1'), true);
  assert.equal(loopback.allowsAddress('10.0.0.1'), false);
  assert.throws(() => parseCidrList('10.0.0.0/33'), /invalid CIDR/);
  assert.throws(() => parseCidrList('nonsense'), /invalid CIDR/);
});

test('URLs: http(s) only, literal internal addresses refused at once, naming the field', () => {
  const strict = new OutboundPolicy('');
  assert.throws(() => strict.validateUrl('ftp://example.com/', 'config.url'), /config\.url/);
  assert.throws(() => strict.validateUrl('not a url', 'config.url'), /config\.url/);
  assert.throws(() => strict.validateUrl('http://127.0.0.1:1/', 'callback_url'), /callback_url/);
  assert.throws(() => strict.validateUrl('http://[::1]/', 'callback_url'), /callback_url/);
  assert.throws(() => strict.validateUrl('http://localhost/', 'callback_url'), /callback_url/);
  assert.equal(strict.validateUrl('https://example.com/hook', 'url').host, 'example.com');
});

test('postJson delivers to allowed addresses and refuses names resolving to internal ones', async () => {
  const received: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      res.writeHead(202).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const allowed = new OutboundPolicy('127.0.0.1/32');
    const res = await allowed.postJson(`http://127.0.0.1:${port}/hook`, { a: 1 });
    assert.equal(res.status, 202);
    assert.deepEqual(received, ['{"a":1}']);

    const strict = new OutboundPolicy('');
    await assert.rejects(strict.postJson(`http://127.0.0.1:${port}/hook`, {}), /may not be reached/);
    await assert.rejects(strict.postJson(`http://localhost:${port}/hook`, {}), /may not be reached/);
    assert.equal(received.length, 1);
  } finally {
    server.close();
  }
});
