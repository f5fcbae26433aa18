/**
 * Registry authentication helpers: parsing `WWW-Authenticate` challenges (RFC 7235) and building
 * the token-server request of the Docker token protocol.
 */

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** The scheme, lowercased: "bearer", "basic", ... */
  scheme: string;
  /** Parameters with lowercased names and unquoted, unescaped values (realm, service, scope, ...). */
  params: Record<string, string>;
  /** A token68 given instead of parameters (e.g. "Negotiate abc=="), rare. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_AT = /[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;
/** Most challenges and parameters kept from one header; the rest is ignored. */
const MAX_ITEMS = 64;

/**
 * Parses one or several `WWW-Authenticate` header values into challenges. Tolerant: schemes are
 * case-insensitive, several challenges may share one header ("Bearer realm=\"a\", Basic realm=\"b\""),
 * quoted strings may contain commas and backslash escapes, values may be bare tokens, and garbage
 * is skipped rather than thrown. Returns [] when nothing parses.
 */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const out: AuthChallenge[] = [];
  for (const v of values) {
    for (const c of parseOne(String(v).slice(0, 16384))) if (out.length < MAX_ITEMS) out.push(c);
  }
  return out;
}

function parseOne(s: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  const n = s.length;
  let i = 0;
  let cur: AuthChallenge | undefined;
  let afterScheme = false;
  let items = 0;

  const skipWs = () => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && TCHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  const readQuoted = () => {
    let v = '';
    i++; // opening quote
    while (i < n && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < n) i++;
      v += s[i++];
    }
    i++; // closing quote (or past the end when unterminated)
    return v;
  };

  while (i < n && items++ < 4 * MAX_ITEMS) {
    skipWs();
    if (i >= n) break;
    if (s[i] === ',') {
      i++;
      afterScheme = false;
      continue;
    }
    if (cur && afterScheme) {
      TOKEN68_AT.lastIndex = i;
      const m = TOKEN68_AT.exec(s);
      if (m) {
        cur.token68 = m[0];
        i += m[0].length;
        afterScheme = false;
        continue;
      }
    }
    const tok = readToken();
    if (!tok) {
      i++; // a character that starts nothing: skip it
      continue;
    }
    skipWs();
    if (s[i] === '=') {
      i++;
      skipWs();
      const value = s[i] === '"' ? readQuoted() : readToken();
      if (cur && Object.keys(cur.params).length < MAX_ITEMS) cur.params[tok.toLowerCase()] = value;
      afterScheme = false;
    } else {
      cur = { scheme: tok.toLowerCase(), params: {} };
      out.push(cur);
      afterScheme = true;
    }
  }
  return out;
}

/** The token scope for pulling a repository: "repository:<repo>:pull". */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** The token scope for pushing to a repository: "repository:<repo>:pull,push". */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/**
 * The URL of a token request for a Bearer challenge: the realm with `service` (when the challenge
 * names one) and `scope` added to its query, one `scope` parameter per entry when several are
 * asked at once (a push that mounts blobs from other repositories). Throws TypeError when the
 * realm is not an http(s) URL.
 */
export function tokenUrl(challenge: AuthChallenge, scope: string | readonly string[]): URL {
  const realm = challenge.params.realm;
  const url = new URL(realm ?? '');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`realm "${realm}" is not an http(s) URL`);
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
  const scopes = typeof scope === 'string' ? [scope] : scope;
  url.searchParams.set('scope', scopes[0] ?? '');
  for (const s of scopes.slice(1)) url.searchParams.append('scope', s);
  return url;
}

/** What a token server answered, checked. */
export interface TokenAnswer {
  token: string;
  /** Lifetime in seconds: `expires_in` when a positive number, else 60. */
  expiresIn: number;
}

/** Reads a token-server JSON answer: `token` or `access_token` (non-empty string), `expires_in`. Undefined when unusable. */
export function parseTokenAnswer(body: Buffer): TokenAnswer | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const token =
    typeof o.token === 'string' && o.token ? o.token : typeof o.access_token === 'string' && o.access_token ? o.access_token : undefined;
  if (!token || /[\r\n]/.test(token) || token.length > 65536) return undefined;
  const e = o.expires_in;
  const expiresIn = typeof e === 'number' && Number.isFinite(e) && e > 0 ? e : 60;
  return { token, expiresIn };
}
