/**
 * The images a Dockerfile pulls (`FROM`, `COPY --from`, `RUN --mount=from=`), as far as they can be known
 * before the build: a build step asks for pull access to those in Slipway's registry and decides on TLS
 * from their hosts. A reference built from a variable without a known value is reported as unresolved.
 */

export interface DockerfileImages {
  /** Image references, with variables expanded, without stage names and `scratch`. */
  images: string[];
  /** True when some reference kept a variable that has no value here. */
  unresolved: boolean;
}

export function dockerfileImages(
  text: string,
  buildArgs: Readonly<Record<string, string>>,
): DockerfileImages {
  const escape = /^\s*#\s*escape\s*=\s*`/im.test(text.split('\n', 5).join('\n')) ? '`' : '\\';
  const args: Record<string, string> = {};
  const stages = new Set<string>();
  const images: string[] = [];
  let unresolved = false;
  let seenFrom = false;

  const add = (raw: string) => {
    const { value, complete } = expand(raw, args);
    if (!complete) unresolved = true;
    else if (value !== '' && value !== 'scratch' && !stages.has(value.toLowerCase()) && !/^\d+$/.test(value))
      images.push(value);
  };

  for (const line of instructions(text, escape)) {
    const [keyword = '', ...words] = line.split(/\s+/);
    switch (keyword.toUpperCase()) {
      case 'ARG':
        // Global ARGs (before the first FROM) may be used in FROM; a build argument overrides the default.
        if (!seenFrom) {
          for (const word of words) {
            const eq = word.indexOf('=');
            const name = eq === -1 ? word : word.slice(0, eq);
            const value = buildArgs[name] ?? (eq === -1 ? undefined : unquote(word.slice(eq + 1)));
            if (value !== undefined) args[name] = value;
          }
        }
        break;
      case 'FROM': {
        seenFrom = true;
        const rest = words.filter((w) => !w.startsWith('--'));
        if (rest[0] !== undefined) add(rest[0]);
        if (rest[1]?.toUpperCase() === 'AS' && rest[2] !== undefined) stages.add(rest[2].toLowerCase());
        break;
      }
      case 'COPY':
      case 'ADD':
        for (const w of words) if (w.startsWith('--from=')) add(w.slice('--from='.length));
        break;
      case 'RUN':
        for (const w of words.filter((x) => x.startsWith('--mount='))) {
          const from = /(?:^|,)from=([^,]+)/.exec(w.slice('--mount='.length));
          if (from?.[1] !== undefined) add(from[1]);
        }
        break;
    }
  }
  return { images: [...new Set(images)], unresolved };
}

/** Logical lines: continuations joined, comments and blank lines dropped. */
function instructions(text: string, escape: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith(escape)) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    if (current !== '' && /^\s*#/.test(line)) continue;
    out.push((current + line).trim());
    current = '';
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

/** `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alt}` as Dockerfiles expand them. */
function expand(raw: string, vars: Readonly<Record<string, string>>): { value: string; complete: boolean } {
  let complete = true;
  const value = unquote(raw).replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_whole, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string) => {
      const name = braced ?? bare;
      const set = Object.hasOwn(vars, name) && vars[name] !== '';
      if (op === '-') return set ? (vars[name] as string) : (word ?? '');
      if (op === '+') return set ? (word ?? '') : '';
      if (!Object.hasOwn(vars, name)) complete = false;
      return vars[name] ?? '';
    },
  );
  return { value, complete };
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
}

/** The repository of a reference on `host`: without the host, the tag and the digest. */
export function referenceRepository(ref: string, host: string): string {
  let rest = ref.startsWith(`${host}/`) ? ref.slice(host.length + 1) : ref;
  const at = rest.indexOf('@');
  if (at !== -1) rest = rest.slice(0, at);
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon);
  return rest;
}
