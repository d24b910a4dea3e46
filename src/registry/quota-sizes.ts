import { Invalid } from '../platform/errors.js';

// Quay's accepted forms (endpoints/api/namespacequota.py): a whole number, optionally a space, optionally a unit.
const sizePattern =
  /^(\d+)\s?(B|KiB|MiB|GiB|TiB|PiB|EiB|ZiB|YiB|Ki|Mi|Gi|Ti|Pi|Ei|Zi|Yi|KB|MB|GB|TB|PB|EB|ZB|YB|K|M|G|T|P|E|Z|Y)?$/;
const prefixes = ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];

/**
 * Bytes in a human size as bitmath's `parse_string_unsafe` reads it: `Ki`/`KiB` are powers of 1024,
 * `K`/`KB` (and the other SI letters) powers of 1000, no unit or `B` plain bytes.
 */
export function parseByteSize(value: string, field = 'limit'): number {
  const match = sizePattern.exec(value);
  if (!match) {
    throw new Invalid('INVALID_LIMIT', 'Invalid limit format, use a number followed by a unit (e.g. 1GiB)', {
      field,
    });
  }
  const unit = match[2] ?? 'B';
  const power = unit === 'B' ? 0 : prefixes.indexOf(unit[0]!);
  const base = unit.includes('i') ? 1024n : 1000n;
  const bytes = BigInt(match[1]!) * base ** BigInt(power);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Invalid('UNSUPPORTED_QUOTA_SIZE', 'Unsupported quota size limit.', { field });
  }
  return Number(bytes);
}

const binaryUnits = ['Byte', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Quay's `limit` string: bitmath's best binary prefix with one decimal, e.g. `10.0 GiB`, `512.0 Byte`. */
export function formatByteSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < binaryUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${binaryUnits[unit]}`;
}
