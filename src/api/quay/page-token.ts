/**
 * Quay's `next_page` cursors (`@page_support`) for offset-paged lists. Clients treat them as
 * opaque; an unreadable one means the first page, as in Quay.
 */
export const encodePageToken = (offset: number): string =>
  Buffer.from(JSON.stringify({ offset })).toString('base64url');

export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown };
    return typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0 ? offset : 0;
  } catch {
    return 0;
  }
}
