/**
 * A minimal registry push client, for tests only: monolithic blob uploads (POST then PUT ?digest=),
 * HEAD to skip blobs already there, manifest PUTs. Authentication follows the registry's challenge:
 * Basic with the registry's first user, or Bearer with a push token from the realm it names.
 */
import type { BuiltImage, BuiltIndex } from './images';
import { sha256Digest } from './images';
import type { TestRegistry } from './registry';

const authCache = new WeakMap<TestRegistry, Map<string, string>>();

function basic(u: string, p: string): string {
  return 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
}

/** Parses `Bearer realm="..",service="..",scope=".."` into its scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let r = re.exec(m[2]); r; r = re.exec(m[2])) params[r[1].toLowerCase()] = r[2] !== undefined ? r[2].replace(/\\(.)/g, '$1') : r[3];
  return { scheme: m[1].toLowerCase(), params };
}

async function fetchToken(registry: TestRegistry, realm: string, service: string | undefined, scope: string): Promise<string> {
  const u = new URL(realm);
  if (service) u.searchParams.set('service', service);
  u.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  if (registry.username !== undefined) headers.authorization = basic(registry.username, registry.password ?? '');
  const res = await fetch(u, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token request ${u} answered ${res.status}: ${text}`);
  const body = JSON.parse(text) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error(`token answer has no token: ${text}`);
  return token;
}

/**
 * The Authorization header value a request to `repo` with `actions` needs, decided from the
 * registry's configuration (no challenge round trip): undefined without auth, Basic with the first
 * user, or Bearer with a fresh token from the issuer (counted by the issuer).
 */
export async function authHeader(registry: TestRegistry, repo: string, actions: string[] = ['pull']): Promise<string | undefined> {
  if (registry.auth === 'basic') return basic(registry.username ?? '', registry.password ?? '');
  if (registry.auth === 'token' && registry.tokenIssuer) {
    const t = registry.tokenIssuer;
    return 'Bearer ' + (await fetchToken(registry, t.url, t.service, `repository:${repo}:${actions.join(',')}`));
  }
  return undefined;
}

/**
 * One request to the registry at `path` ("/v2/..."), answering the registry's 401 challenge once
 * (Basic or Bearer for `repository:<repo>:<actions>`) and caching the header per repo and actions.
 */
export async function registryFetch(
  registry: TestRegistry,
  repo: string,
  actions: string[],
  pathOrUrl: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Response> {
  const url = new URL(pathOrUrl, registry.url);
  const key = `${repo}|${actions.join(',')}`;
  let cache = authCache.get(registry);
  if (!cache) authCache.set(registry, (cache = new Map()));
  const send = (auth: string | undefined): Promise<Response> =>
    fetch(url, {
      method: init.method ?? 'GET',
      headers: { ...init.headers, ...(auth ? { authorization: auth } : {}) },
      body: init.body,
      redirect: 'manual',
    });
  const cached = cache.get(key);
  const res = await send(cached);
  if (res.status !== 401) return res;
  const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
  await res.arrayBuffer();
  let header: string;
  if (challenge.scheme === 'basic') {
    if (registry.username === undefined) throw new Error(`registry wants Basic auth for ${url} but has no user`);
    header = basic(registry.username, registry.password ?? '');
  } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
    header =
      'Bearer ' + (await fetchToken(registry, challenge.params.realm, challenge.params.service, `repository:${repo}:${actions.join(',')}`));
  } else {
    throw new Error(`registry answered 401 with an unusable challenge for ${url}: ${res.headers.get('www-authenticate')}`);
  }
  cache.set(key, header);
  return send(header);
}

async function expectStatus(res: Response, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.status)) return;
  throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
}

/** Options for {@link pushBlob}. */
export interface PushBlobOptions {
  /** Upload even when HEAD says the blob exists. */
  force?: boolean;
}

/** Uploads one blob (skipped when HEAD finds it); returns its digest. */
export async function pushBlob(registry: TestRegistry, repo: string, bytes: Buffer, opts: PushBlobOptions = {}): Promise<string> {
  const digest = sha256Digest(bytes);
  const rw = ['pull', 'push'];
  if (!opts.force) {
    const head = await registryFetch(registry, repo, rw, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    if (head.status === 200) return digest;
    await expectStatus(head, [404], `HEAD blob ${digest}`);
  }
  const start = await registryFetch(registry, repo, rw, `/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { 'content-length': '0' },
  });
  await expectStatus(start, [202], `POST upload for ${repo}`);
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (!location) throw new Error('upload answered 202 without Location');
  const put = new URL(location, registry.url);
  put.searchParams.set('digest', digest);
  const done = await registryFetch(registry, repo, rw, put.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: bytes,
  });
  await expectStatus(done, [201], `PUT blob ${digest}`);
  await done.arrayBuffer();
  return digest;
}

/** PUTs a manifest (or index) under `reference` (a tag or its digest); returns the digest the registry reports. */
export async function putManifest(
  registry: TestRegistry,
  repo: string,
  reference: string,
  mediaType: string,
  bytes: Buffer,
): Promise<string> {
  const res = await registryFetch(registry, repo, ['pull', 'push'], `/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
    body: bytes,
  });
  await expectStatus(res, [201], `PUT manifest ${repo}:${reference}`);
  await res.arrayBuffer();
  const digest = res.headers.get('docker-content-digest') ?? sha256Digest(bytes);
  if (digest !== sha256Digest(bytes)) throw new Error(`registry says manifest digest ${digest}, bytes hash to ${sha256Digest(bytes)}`);
  return digest;
}

/** Pushes an image's layers and config, then its manifest as `repo:tag`. Returns the manifest digest. */
export async function pushImage(registry: TestRegistry, repo: string, tag: string, img: BuiltImage): Promise<string> {
  for (const l of img.layers) await pushBlob(registry, repo, l.bytes);
  await pushBlob(registry, repo, img.config);
  return putManifest(registry, repo, tag, img.mediaType, img.manifest);
}

/**
 * Pushes every image of an index (by digest, attestation included), then the index as `repo:tag`.
 * Returns the index digest.
 */
export async function pushIndex(registry: TestRegistry, repo: string, tag: string, idx: BuiltIndex): Promise<string> {
  for (const img of [...idx.images, idx.attestation]) await pushImage(registry, repo, img.manifestDigest, img);
  return putManifest(registry, repo, tag, idx.mediaType, idx.index);
}

/** Deletes a manifest by digest (the registry has deletes enabled). */
export async function deleteManifest(registry: TestRegistry, repo: string, digest: string): Promise<void> {
  const res = await registryFetch(registry, repo, ['pull', 'push', 'delete'], `/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  await expectStatus(res, [202], `DELETE manifest ${repo}@${digest}`);
  await res.arrayBuffer();
}
