// The fetch-archive step on real files: tar, tar.gz, zip and bare Dockerfiles unpacked into a workspace, and
// hostile archives (path traversal, absolute paths, links out of the workspace) refused without writing
// outside it. Downloads go through a real OutboundPolicy to a local HTTP server.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32, gzipSync } from 'node:zlib';
import { anonymous } from '../../identity/subject.js';
import { OutboundPolicy } from '../../platform/outbound.js';
import type { LogChunk } from '../executor.js';
import type { FetchArchiveStep } from '../model.js';
import type { StepContext } from '../step-runner.js';
import { fetchArchiveStepRunner } from './fetch-archive.step.js';

/** One tar entry: a header block and the data padded to 512 bytes. */
function tarEntry(name: string, body: string, type: '0' | '2' | '1' | '5' = '0', linkname = ''): Buffer {
  const header = Buffer.alloc(512);
  const data = Buffer.from(type === '0' ? body : '');
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkname, 157, 100, 'utf8');
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([header, padded]);
}
const tar = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

/** A zip of stored (uncompressed) entries; a name ending in "/" is a directory. */
function zip(entries: { name: string; body?: string; symlink?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const data = Buffer.from(entry.body ?? '');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by unix
    central.writeUInt16LE(10, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    const mode = entry.symlink ? 0o120777 : entry.name.endsWith('/') ? 0o040755 : 0o100644;
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

let dir: string;
let serverUrl: string;
let closeServer: () => Promise<void>;
const served = new Map<string, Buffer>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-fetch-archive-'));
  const server = createServer((req, res) => {
    if (req.url === '/redirect') return res.writeHead(302, { location: '/ctx.tar.gz' }).end();
    if (req.url === '/away') return res.writeHead(302, { location: 'http://10.9.9.9/ctx.tar.gz' }).end();
    const body = served.get(req.url ?? '');
    if (!body) return res.writeHead(404).end();
    res.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeServer = () => new Promise((resolve) => server.close(() => resolve()));
});
after(async () => {
  await closeServer();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Runs the step on `bytes` (as an upload, or served at a URL) in a fresh workspace. */
async function fetchInto(
  source: Buffer | { url: string },
  options: { allow?: string; maxBytes?: number } = {},
): Promise<{ workspace: string; outcome: string; error?: string; log: string }> {
  const n = ++counter;
  const workspace = join(dir, `ws${n}`, 'workspace');
  await mkdir(workspace, { recursive: true });
  const upload = join(dir, `upload${n}`);
  if (Buffer.isBuffer(source)) await writeFile(upload, source);
  const runner = fetchArchiveStepRunner({
    outbound: new OutboundPolicy(options.allow ?? '127.0.0.0/8'),
    maxBytes: options.maxBytes ?? 1024 * 1024,
    uploadedFile: () => upload,
  });
  const step: FetchArchiveStep = Buffer.isBuffer(source)
    ? { kind: 'fetch-archive', name: 'unpack', fileId: 'x' }
    : { kind: 'fetch-archive', name: 'unpack', url: source.url };
  const chunks: LogChunk[] = [];
  const ctx: StepContext = {
    runId: 'run',
    jobId: 'job',
    stepId: 'step',
    workspace,
    env: {},
    variables: {},
    signal: new AbortController().signal,
    timeoutMs: 30_000,
    sink: (chunk) => chunks.push(chunk),
    registryHost: '127.0.0.1:5000',
    pipeline: { id: 'p', name: 'p', namespace: 'ns' },
    run: { number: 1 },
    job: { name: 'build' },
    step: { index: 0, name: 'unpack' },
    trigger: { event: 'manual', commit: '', repoUrl: '' },
    actor: anonymous,
  };
  const result = await runner(step, ctx);
  return {
    workspace,
    outcome: result.outcome,
    ...(result.error !== undefined ? { error: result.error } : {}),
    log: Buffer.concat(chunks.map((c) => c.data)).toString('utf8'),
  };
}

test('tar, tar.gz and zip archives and a bare Dockerfile are unpacked into the workspace', async () => {
  const entries = [
    tarEntry('app/', '', '5'),
    tarEntry('app/Dockerfile', 'FROM scratch\n'),
    tarEntry('app/link', '', '2', 'Dockerfile'),
  ];
  for (const archive of [tar(...entries), gzipSync(tar(...entries))]) {
    const got = await fetchInto(archive);
    assert.equal(got.outcome, 'success', got.log);
    assert.equal(await readFile(join(got.workspace, 'app/Dockerfile'), 'utf8'), 'FROM scratch\n');
    assert.equal(await readlink(join(got.workspace, 'app/link')), 'Dockerfile');
  }
  const zipped = await fetchInto(
    zip([{ name: 'web/' }, { name: 'web/Dockerfile', body: 'FROM a\n' }, { name: 'x', body: 'y' }]),
  );
  assert.equal(zipped.outcome, 'success', zipped.log);
  assert.equal(await readFile(join(zipped.workspace, 'web/Dockerfile'), 'utf8'), 'FROM a\n');
  const bare = await fetchInto(Buffer.from('# syntax=docker/dockerfile:1\n\nARG BASE=x\nFROM ${BASE}\n'));
  assert.equal(bare.outcome, 'success', bare.log);
  assert.match(await readFile(join(bare.workspace, 'Dockerfile'), 'utf8'), /^# syntax/);
});

test('hostile archives are refused and write nothing outside the workspace', async () => {
  const cases: [Buffer, RegExp][] = [
    [tar(tarEntry('../escaped.txt', 'owned')), /unsafe path in the archive: \.\.\/escaped\.txt/],
    [tar(tarEntry('a/../../escaped.txt', 'owned')), /unsafe path/],
    [tar(tarEntry('/tmp/absolute.txt', 'owned')), /unsafe path/],
    [tar(tarEntry('out', '', '2', '/etc'), tarEntry('out/passwd', 'owned')), /link leading outside/],
    [tar(tarEntry('up', '', '2', '../..')), /link leading outside/],
    [tar(tarEntry('hard', '', '1', '../escaped.txt')), /link leading outside/],
    [zip([{ name: '../escaped.txt', body: 'owned' }]), /unsafe path|invalid relative path/],
    [zip([{ name: '/abs.txt', body: 'owned' }]), /unsafe path|absolute path/],
  ];
  for (const [archive, message] of cases) {
    const got = await fetchInto(archive);
    assert.equal(got.outcome, 'failed', got.log);
    assert.match(got.error ?? '', message);
    assert.equal(existsSync(join(got.workspace, '..', 'escaped.txt')), false);
    assert.equal(existsSync(join(got.workspace, '..', '..', 'escaped.txt')), false);
  }
  // A zip symbolic link is skipped, not followed.
  const linked = await fetchInto(
    zip([
      { name: 'l', body: '/etc/passwd', symlink: true },
      { name: 'f', body: 'x' },
    ]),
  );
  assert.equal(linked.outcome, 'success', linked.log);
  assert.equal(existsSync(join(linked.workspace, 'l')), false);
  assert.match(linked.log, /skipping l/);
});

test('not an archive, too big, unreachable: failed with a clear reason', async () => {
  const html = await fetchInto(Buffer.from('<!DOCTYPE html>\n<html></html>\n'));
  assert.equal(html.outcome, 'failed');
  assert.equal(html.error, 'the file is not a tar, tar.gz or zip archive, nor a Dockerfile');
  const tooBigUpload = await fetchInto(Buffer.alloc(4096, 1), { maxBytes: 1000 });
  assert.equal(tooBigUpload.error, 'archive larger than 1000 bytes');

  served.set('/ctx.tar.gz', gzipSync(tar(tarEntry('Dockerfile', 'FROM scratch\n'))));
  served.set('/big', Buffer.alloc(50_000, 7));
  const downloaded = await fetchInto({ url: `${serverUrl}/redirect` });
  assert.equal(downloaded.outcome, 'success', downloaded.log);
  assert.equal(await readFile(join(downloaded.workspace, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
  const big = await fetchInto({ url: `${serverUrl}/big` }, { maxBytes: 1000 });
  assert.equal(big.outcome, 'failed');
  assert.equal(big.error, 'archive larger than 1000 bytes');
  const missing = await fetchInto({ url: `${serverUrl}/missing` });
  assert.match(missing.error ?? '', /answered HTTP 404/);
  // Loopback not allowed, and a redirect to a private address: refused by the policy.
  const refused = await fetchInto({ url: `${serverUrl}/ctx.tar.gz` }, { allow: '' });
  assert.equal(refused.outcome, 'failed');
  assert.match(refused.error ?? '', /may not be reached/);
  const redirected = await fetchInto({ url: `${serverUrl}/away` });
  assert.equal(redirected.outcome, 'failed');
  assert.match(redirected.error ?? '', /may not be reached/);
});
