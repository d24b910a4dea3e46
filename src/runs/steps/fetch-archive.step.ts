/**
 * The `fetch-archive` step: the build context of a Quay repository build. It downloads `url` through the
 * outbound policy (no loopback, private or link-local address unless the operator allows it; redirects
 * checked again; at most `maxBytes`), or takes an uploaded file (`fileId`), and unpacks it into the
 * workspace: a tar (plain or gzip-compressed) or a zip archive, or a bare Dockerfile, which lands as
 * `Dockerfile`. What it is comes from its first bytes, not from a name or a Content-Type.
 *
 * Safe extraction: entries with absolute paths or `..` segments, links leading outside the workspace,
 * devices and FIFOs are refused (the step fails and names the entry); zip symbolic links are skipped;
 * unpacked contents may not exceed `maxExtractedBytes`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar';
import yauzl from 'yauzl';
import { systemClock, type Clock } from '../../platform/clock.js';
import { OutboundDownloadError, type OutboundPolicy } from '../../platform/outbound.js';
import { beginExecution, type StepEnd } from '../executor.js';
import { workspaceProblem } from '../executors/local.executor.js';
import type { FetchArchiveStep } from '../model.js';
import type { StepRunner } from '../step-runner.js';

export interface FetchArchiveOptions {
  outbound: OutboundPolicy;
  /** Largest download or upload. */
  maxBytes: number;
  /** Largest unpacked contents. Default 4 × maxBytes (at least 64 MiB). */
  maxExtractedBytes?: number;
  /** Where an uploaded file's bytes are. */
  uploadedFile: (fileId: string) => string;
  /** Where downloads are kept while the step runs. Default os.tmpdir(). */
  tmpDir?: string;
  clock?: Clock;
}

type Kind = 'tar' | 'zip' | 'dockerfile';

class ArchiveProblem extends Error {}

const MAX_DOCKERFILE_BYTES = 1024 * 1024;

export function fetchArchiveStepRunner(options: FetchArchiveOptions): StepRunner<FetchArchiveStep> {
  const clock = options.clock ?? systemClock;
  const maxExtracted = options.maxExtractedBytes ?? Math.max(options.maxBytes * 4, 64 * 1024 * 1024);
  return async (step, ctx) => {
    const scope = beginExecution(ctx.sink, () => clock.now());
    const note = (line: string) => scope.emit('stderr', Buffer.from(`[unpack] ${line}\n`));
    if (ctx.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    const problem =
      (await workspaceProblem(ctx.workspace)) ??
      ((step.url === undefined) === (step.fileId === undefined)
        ? 'a fetch-archive step needs exactly one of url and fileId'
        : undefined);
    if (problem !== undefined) return scope.finish({ outcome: 'error', exitCode: null, error: problem });

    let tmp: string | undefined;
    let end: StepEnd;
    try {
      let file: string;
      if (step.url !== undefined) {
        tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'slipway-archive-'));
        file = join(tmp, 'download');
        note(`downloading ${redactedUrl(step.url)}`);
        const got = await options.outbound.download(step.url, file, {
          maxBytes: options.maxBytes,
          timeoutMs: Number.isFinite(ctx.timeoutMs) ? ctx.timeoutMs : undefined,
          signal: ctx.signal,
        });
        note(`downloaded ${got.bytes} bytes`);
      } else {
        file = options.uploadedFile(step.fileId!);
        const size = (await stat(file)).size;
        if (size > options.maxBytes)
          throw new ArchiveProblem(`archive larger than ${options.maxBytes} bytes`);
      }
      const kind = await detect(file);
      note(`unpacking ${kind === 'dockerfile' ? 'a Dockerfile' : `a ${kind} archive`}`);
      if (kind === 'dockerfile') await copyFile(file, join(ctx.workspace, 'Dockerfile'));
      else if (kind === 'tar') await unpackTar(file, ctx.workspace, maxExtracted, note);
      else await unpackZip(file, ctx.workspace, maxExtracted, note);
      end = { outcome: 'success', exitCode: 0 };
    } catch (err) {
      end = endOf(err, ctx.signal, options.maxBytes);
      if (end.error) note(end.error);
    }
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true }).catch(() => {});
    return scope.finish(end);
  };
}

/** For the engine's `stepRunners`. */
export function fetchArchiveStepRunners(options: FetchArchiveOptions): {
  'fetch-archive': StepRunner<FetchArchiveStep>;
} {
  return { 'fetch-archive': fetchArchiveStepRunner(options) };
}

function endOf(err: unknown, signal: AbortSignal, maxBytes: number): StepEnd {
  if (signal.aborted) return { outcome: 'cancelled', exitCode: null, error: 'cancelled' };
  if (err instanceof ArchiveProblem) return { outcome: 'failed', exitCode: null, error: err.message };
  if (err instanceof OutboundDownloadError) {
    if (err.kind === 'too_large') {
      return { outcome: 'failed', exitCode: null, error: `archive larger than ${maxBytes} bytes` };
    }
    if (err.kind === 'timeout') return { outcome: 'timed_out', exitCode: null, error: 'download timed out' };
    return { outcome: 'failed', exitCode: null, error: `could not download the archive: ${err.message}` };
  }
  const message = err instanceof Error ? err.message : String(err);
  // Refused addresses, DNS and connection failures: the user's URL, not Slipway, is at fault.
  return { outcome: 'failed', exitCode: null, error: `could not get the archive: ${message}` };
}

/** What the file is, by its first bytes. */
async function detect(file: string): Promise<Kind> {
  const handle = await open(file, 'r');
  const head = Buffer.alloc(512);
  let read: number;
  try {
    ({ bytesRead: read } = await handle.read(head, 0, 512, 0));
  } finally {
    await handle.close();
  }
  const bytes = head.subarray(0, read);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'tar';
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0x06054b50) return 'zip';
  if (read === 512 && bytes.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if ((await stat(file)).size <= MAX_DOCKERFILE_BYTES && looksLikeDockerfile(bytes)) return 'dockerfile';
  throw new ArchiveProblem('the file is not a tar, tar.gz or zip archive, nor a Dockerfile');
}

/** Text whose first instruction (after comments, parser directives and blank lines) is FROM or ARG. */
export function looksLikeDockerfile(head: Buffer): boolean {
  if (head.includes(0)) return false;
  for (const raw of head.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    return /^(FROM|ARG)\s/i.test(line);
  }
  return false;
}

/** A path inside the archive that stays inside: relative, no `..`. */
function safeEntryPath(path: string): boolean {
  if (path === '' || path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.includes('\0')) return false;
  return !path.split(/[/\\]/).includes('..');
}

/** A link target that, from the entry's directory, stays inside the root. */
function safeLinkTarget(entryPath: string, target: string, relativeToRoot: boolean): boolean {
  if (target === '' || target.startsWith('/') || target.includes('\0')) return false;
  const resolved = posix.normalize(relativeToRoot ? target : posix.join(posix.dirname(entryPath), target));
  return resolved !== '..' && !resolved.startsWith('../') && !posix.isAbsolute(resolved);
}

async function unpackTar(
  file: string,
  dest: string,
  maxBytes: number,
  note: (l: string) => void,
): Promise<void> {
  let refused: string | undefined;
  let total = 0;
  await tarExtract({
    file,
    cwd: dest,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    noChmod: false,
    filter: (path, entry) => {
      if (refused !== undefined) return false;
      const type = 'type' in entry ? entry.type : 'File';
      const linkpath = 'linkpath' in entry ? entry.linkpath : undefined;
      if (!safeEntryPath(path)) refused = `unsafe path in the archive: ${path}`;
      else if (type === 'SymbolicLink' && !safeLinkTarget(path, linkpath ?? '', false))
        refused = `link leading outside the archive: ${path} -> ${linkpath}`;
      else if (type === 'Link' && !safeLinkTarget(path, linkpath ?? '', true))
        refused = `link leading outside the archive: ${path} -> ${linkpath}`;
      else if (!['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'].includes(type)) {
        note(`skipping ${path}: ${type} entries are not unpacked`);
        return false;
      } else {
        total += entry.size ?? 0;
        if (total > maxBytes) refused = `the archive unpacks to more than ${maxBytes} bytes`;
      }
      return refused === undefined;
    },
  }).catch((err: unknown) => {
    throw new ArchiveProblem(`the archive could not be unpacked: ${(err as Error).message}`);
  });
  if (refused !== undefined) throw new ArchiveProblem(refused);
}

function unpackZip(file: string, dest: string, maxBytes: number, note: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true, autoClose: true }, (openErr, zip) => {
      if (openErr || !zip) {
        return reject(
          new ArchiveProblem(`the archive could not be unpacked: ${openErr?.message ?? 'not a zip'}`),
        );
      }
      let total = 0;
      const fail = (err: Error) => {
        zip.close();
        reject(
          err instanceof ArchiveProblem
            ? err
            : new ArchiveProblem(`the archive could not be unpacked: ${err.message}`),
        );
      };
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = entry.fileName;
        if (!safeEntryPath(name)) return fail(new ArchiveProblem(`unsafe path in the archive: ${name}`));
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000) {
          note(`skipping ${name}: symbolic links in zip archives are not unpacked`);
          return zip.readEntry();
        }
        const target = join(dest, name);
        if (name.endsWith('/')) {
          mkdir(target, { recursive: true }).then(() => zip.readEntry(), fail);
          return;
        }
        total += entry.uncompressedSize;
        if (total > maxBytes)
          return fail(new ArchiveProblem(`the archive unpacks to more than ${maxBytes} bytes`));
        zip.openReadStream(entry, (streamErr, stream) => {
          if (streamErr || !stream) return fail(streamErr ?? new Error('cannot read an entry'));
          mkdir(dirname(target), { recursive: true })
            // `wx`: never through an existing file or link.
            .then(() => pipeline(stream, createWriteStream(target, { flags: 'wx', mode: 0o644 })))
            .then(() => zip.readEntry(), fail);
        });
      });
      zip.readEntry();
    });
  });
}

/** The URL without user info or query (which may hold tokens), for the log. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${parsed.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
