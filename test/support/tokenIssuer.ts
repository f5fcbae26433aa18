/**
 * A Docker-registry token server for tests (the "Bearer" flow of the distribution token spec),
 * listening on 127.0.0.1. It answers
 *   GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]   (optional Basic credentials)
 * with {token, access_token, expires_in, issued_at}: an RS256 JWT whose header carries the signing
 * certificate in `x5c`, which CNCF distribution 2.8 verifies against its `rootcertbundle`.
 *
 * It counts what it does (`issued`, `requests`, `lastScopes`) so tests can assert that a client
 * caches tokens and asks for the scopes it should.
 */
import { X509Certificate, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerCleanup } from './tmp';

/** Options for {@link startTokenIssuer}. */
export interface TokenIssuerOptions {
  /** PEM private key (RSA) that signs tokens. */
  keyPem: string;
  /** PEM certificate of that key; the registry's rootcertbundle must hold it. */
  certPem: string;
  /** The `aud` claim and the service the registry names; default "berth-test-registry". */
  service?: string;
  /** The `iss` claim; default "berth-test-issuer". */
  issuer?: string;
  /** username -> password accepted in Basic credentials; none means only anonymous requests. */
  users?: Record<string, string>;
  /** Whether anonymous requests get `pull` (never more); default false (they get no access). */
  anonymousPull?: boolean;
  /** Token lifetime in seconds (`expires_in`, exp - iat); default 300. */
  expiresIn?: number;
  /**
   * Narrows what a user gets (after the defaults above): return the actions to grant. Use it to
   * make e.g. a read-only user.
   */
  grant?: (user: string | undefined, type: string, name: string, requested: string[]) => string[];
}

/** One request the issuer answered. */
export interface TokenRequest {
  /** The authenticated user, undefined for anonymous. */
  user?: string;
  service: string | null;
  scopes: string[];
  /** HTTP status answered (200, or 401 for bad credentials). */
  status: number;
  /** What the token grants. */
  access: TokenAccess[];
}

/** One `access` claim entry. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** A running token issuer. */
export interface TokenIssuer {
  /** The realm: "http://127.0.0.1:PORT/token". */
  url: string;
  service: string;
  issuer: string;
  /** Tokens issued so far (200 answers). */
  readonly issued: number;
  /** The scope parameters of the latest request. */
  readonly lastScopes: string[];
  /** Every request answered, oldest first. */
  readonly requests: TokenRequest[];
  /** Zeroes `issued` and empties `requests` / `lastScopes`. */
  reset(): void;
  /** Mints a token directly (no HTTP, not counted), e.g. to build an expired one. */
  mint(user: string | undefined, access: TokenAccess[], lifetimeSeconds?: number): string;
  stop(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** Parses "type:name:actions" (the name may itself contain ':', e.g. never for repos, but be lenient). */
function parseScope(s: string): { type: string; name: string; actions: string[] } | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: s.slice(0, first),
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/** Starts the issuer on 127.0.0.1 (a free port). It is registered for cleanup; call stop() when done. */
export async function startTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
  const key = createPrivateKey(opts.keyPem);
  const certDer = new X509Certificate(opts.certPem).raw;
  const service = opts.service ?? 'berth-test-registry';
  const issuer = opts.issuer ?? 'berth-test-issuer';
  const lifetime = opts.expiresIn ?? 300;
  const users = opts.users ?? {};

  let issued = 0;
  let lastScopes: string[] = [];
  const requests: TokenRequest[] = [];

  const mint = (user: string | undefined, access: TokenAccess[], life = lifetime): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + life, nbf: now - 1, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
    const reqService = url.searchParams.get('service');
    lastScopes = scopes;
    const send = (status: number, body: unknown, user: string | undefined, access: TokenAccess[]): void => {
      requests.push({ user, service: reqService, scopes, status, access });
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'GET' || url.pathname !== '/token') {
      send(404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] }, undefined, []);
      return;
    }

    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Basic\s+(\S+)$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1], 'base64').toString() : '';
      const colon = decoded.indexOf(':');
      const u = decoded.slice(0, colon);
      if (colon < 0 || !(u in users) || users[u] !== decoded.slice(colon + 1)) {
        res.setHeader('www-authenticate', 'Basic realm="berth-test-issuer"');
        send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }, undefined, []);
        return;
      }
      user = u;
    }

    const access: TokenAccess[] = [];
    for (const s of scopes) {
      const p = parseScope(s);
      if (!p) continue;
      let actions: string[];
      if (user !== undefined) actions = p.actions.includes('*') ? ['*'] : p.actions;
      else actions = opts.anonymousPull && p.type === 'repository' && p.actions.includes('pull') ? ['pull'] : [];
      if (opts.grant) actions = opts.grant(user, p.type, p.name, actions);
      if (actions.length) access.push({ type: p.type, name: p.name, actions });
    }
    const token = mint(user, access);
    issued++;
    send(200, { token, access_token: token, expires_in: lifetime, issued_at: new Date().toISOString() }, user, access);
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const unregister = registerCleanup(stop);

  return {
    url: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    get issued() {
      return issued;
    },
    get lastScopes() {
      return lastScopes;
    },
    get requests() {
      return requests;
    },
    reset() {
      issued = 0;
      lastScopes = [];
      requests.length = 0;
    },
    mint: (user, access, life) => mint(user, access, life),
    stop,
  };
}
