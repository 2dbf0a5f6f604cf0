/**
 * The `WWW-Authenticate` challenges of a registry's 401 (RFC 9110 §11.6.1, §11.2): a list of
 * `scheme param=value, …` where a value is a token or a quoted string, and challenges are separated by
 * the same commas as their parameters. Registries that use token authentication (Docker Hub, ghcr.io,
 * quay.io, docker-registry with `auth: token`) send
 * `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x/y:pull"`
 * (distribution's token authentication specification).
 */

export interface BearerChallenge {
  /** Where to ask for a token. */
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Map<string, string>;
}

/** RFC 9110 tchar. */
const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const MAX_HEADER = 16 * 1024;

/**
 * Every challenge in a header value, schemes and parameter names lower-cased. A malformed header
 * yields the challenges read before the fault: the caller then finds no usable Bearer challenge and
 * treats the 401 as an answer.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const text = header.length > MAX_HEADER ? '' : header;
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < text.length && TCHAR.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const readQuoted = (): string | undefined => {
    let value = '';
    for (i++; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return value;
      }
      if (c === '\\') i++;
      if (i < text.length) value += text[i];
    }
    return undefined;
  };
  let current: Challenge | undefined;
  for (;;) {
    while (i < text.length && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= text.length) return challenges;
    const token = readToken();
    if (token === '') return challenges;
    skipSpace();
    if (text[i] === '=' && current !== undefined) {
      i++;
      skipSpace();
      const value = text[i] === '"' ? readQuoted() : readToken();
      if (value === undefined) return challenges;
      current.params.set(token.toLowerCase(), value);
    } else {
      current = { scheme: token.toLowerCase(), params: new Map() };
      challenges.push(current);
      // A token68 (`Basic dGVzdA==`) in place of parameters: skip it.
      if (text[i] !== ',' && i < text.length) {
        const start = i;
        while (i < text.length && /[A-Za-z0-9\-._~+/]/.test(text[i]!)) i++;
        while (text[i] === '=') i++;
        skipSpace();
        if (i === start || (i < text.length && text[i] !== ',')) {
          // Not a token68 either: this is the first parameter of the new challenge.
          i = start;
        }
      }
    }
  }
}

/** The Bearer challenge with a realm, if the header has one. */
export function bearerChallenge(header: string | null): BearerChallenge | undefined {
  if (header === null) return undefined;
  const bearer = parseChallenges(header).find((c) => c.scheme === 'bearer' && c.params.has('realm'));
  if (bearer === undefined) return undefined;
  const service = bearer.params.get('service');
  const scope = bearer.params.get('scope');
  return {
    realm: bearer.params.get('realm')!,
    ...(service === undefined ? {} : { service }),
    ...(scope === undefined ? {} : { scope }),
  };
}
