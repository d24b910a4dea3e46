/**
 * Python's `fnmatch.fnmatch` on POSIX (what Quay's mirror uses for `tag_glob_csv`):
 * `*` any run of characters, `?` one character, `[seq]` / `[!seq]` a character class;
 * everything else literal, and the whole tag must match. Case-sensitive.
 */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '!') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, j).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      else if (body.startsWith('^')) body = '\\' + body;
      out += `[${body}]`;
      i = j;
    } else out += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, 's');
}

/** The tags that match any of the globs, sorted and without duplicates. */
export function matchingTags(tags: Iterable<string>, globs: string[]): string[] {
  const patterns = globs.map(globToRegExp);
  return [...new Set([...tags].filter((tag) => patterns.some((p) => p.test(tag))))].sort();
}
