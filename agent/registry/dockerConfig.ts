/**
 * Credentials from Docker's client configuration (`config.json` in $DOCKER_CONFIG or ~/.docker),
 * read the way `docker login` writes them. Only inline credentials in `auths` are used; credential
 * helpers (`credsStore`, `credHelpers`) and `identitytoken` are not supported and only reported.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A username and password for one registry. */
export interface Credentials {
  username: string;
  password: string;
}

/** What was read from a config.json. */
export interface DockerAuthConfig {
  /** The file read (it may not exist). */
  path: string;
  /** `auths` entries with usable credentials, keyed by normalised host ("host" or "host:port"). */
  auths: Map<string, Credentials>;
  /** A sentence about why the file could not be used, or about helpers it names that Berth ignores. */
  problem?: string;
}

/** Largest config.json read. */
const MAX_CONFIG_FILE = 1024 * 1024;

/** The directory holding config.json: `dir`, else $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(dir?: string): string {
  return dir ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
}

/**
 * Normalises an `auths` key to "host" or "host:port": strips a scheme and any path, lowercases,
 * and maps Docker Hub's historical names (index.docker.io, registry-1.docker.io) to "docker.io".
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') return 'docker.io';
  return k;
}

function decodeEntry(v: unknown): Credentials | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.auth === 'string' && e.auth) {
    const text = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof e.username === 'string' && e.username && typeof e.password === 'string') {
    return { username: e.username, password: e.password };
  }
  return undefined;
}

/**
 * Reads `<dir>/config.json`. Never throws: a missing file gives no credentials; an unreadable or
 * malformed one gives none and a `problem` to mention if a registry later demands credentials.
 * Keys "host", "host:port", "https://host/v1/" and "https://index.docker.io/v1/" (Docker Hub) are
 * understood; for each entry `auth` (base64 "user:pass") wins over `username`/`password`.
 */
export function loadDockerAuthConfig(dir?: string): DockerAuthConfig {
  const path = join(dockerConfigDir(dir), 'config.json');
  const auths = new Map<string, Credentials>();
  let text: string;
  try {
    const buf = readFileSync(path);
    if (buf.length > MAX_CONFIG_FILE) return { path, auths, problem: `${path} is larger than 1 MiB and was ignored` };
    text = buf.toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { path, auths };
    return { path, auths, problem: `${path} could not be read (${code ?? (e as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { path, auths, problem: `${path} is not valid JSON (${(e as Error).message})` };
  }
  if (typeof json !== 'object' || json === null) return { path, auths, problem: `${path} is not a JSON object` };
  const cfg = json as Record<string, unknown>;
  const raw = cfg.auths;
  if (typeof raw === 'object' && raw !== null) {
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      const c = decodeEntry(value);
      const k = normalizeAuthKey(key);
      if (c && k && !auths.has(k)) auths.set(k, c);
    }
  }
  let problem: string | undefined;
  if (typeof cfg.credsStore === 'string' || (typeof cfg.credHelpers === 'object' && cfg.credHelpers !== null)) {
    problem = `${path} names credential helpers, which Berth does not use; put credentials in its "auths" instead`;
  }
  return problem ? { path, auths, problem } : { path, auths };
}

/** The credentials for a registry ("docker.io", "host:port"), if the config has some. */
export function credentialsFor(config: DockerAuthConfig, registry: string): Credentials | undefined {
  return config.auths.get(normalizeAuthKey(registry));
}
