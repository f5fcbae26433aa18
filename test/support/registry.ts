/**
 * A real OCI registry for integration tests: Debian's `docker-registry` (CNCF distribution 2.8)
 * serving from a temp dir on 127.0.0.1, with no auth, Basic auth (bcrypt htpasswd) or Bearer
 * tokens from {@link startTokenIssuer}.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, registerCleanup, removeTempDir, requireTools, run, stopChild, trackChild } from './tmp';
import { startTokenIssuer, type TokenIssuer, type TokenIssuerOptions } from './tokenIssuer';

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  /** Default "none". */
  auth?: 'none' | 'basic' | 'token';
  /** username -> password; default { berth: "berth-secret" } when auth is not "none". */
  users?: Record<string, string>;
  /** Token auth: passed on to the issuer (anonymousPull, expiresIn, grant). */
  issuer?: Pick<TokenIssuerOptions, 'anonymousPull' | 'expiresIn' | 'grant'>;
}

/** A running registry. */
export interface TestRegistry {
  /** "127.0.0.1:PORT", as an image reference's host part. */
  host: string;
  /** "http://127.0.0.1:PORT". */
  url: string;
  auth: 'none' | 'basic' | 'token';
  /** The first configured user, when auth is on. */
  username?: string;
  password?: string;
  /** Every configured user. */
  users: Record<string, string>;
  /** Token auth only: the issuer the registry sends clients to. */
  tokenIssuer?: TokenIssuer;
  /** The storage root (filesystem driver), e.g. to corrupt a blob on purpose. */
  storageDir: string;
  /** The registry's output so far (stderr and stdout, capped). */
  logs(): string;
  /** Stops the registry (by PID) and the issuer, and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_USERS = { berth: 'berth-secret' };
const READY_TIMEOUT_MS = 10_000;
const BIND_ATTEMPTS = 4;

/** A port that was free a moment ago: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

function yamlString(s: string): string {
  return JSON.stringify(s); // JSON strings are valid YAML double-quoted scalars
}

/**
 * Starts `docker-registry serve` on a free 127.0.0.1 port and waits (≤ 10 s) until GET /v2/
 * answers 200 (401 with auth). Fails with the registry's stderr if it dies; retries with another
 * port when the one picked was taken meanwhile. Registered for cleanup; call stop() when done.
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  requireTools(['docker-registry', 'htpasswd', 'openssl']);
  const auth = opts.auth ?? 'none';
  const users = auth === 'none' ? {} : (opts.users ?? DEFAULT_USERS);
  const dir = await makeTempDir('berth-registry-');
  let issuer: TokenIssuer | undefined;
  try {
    const storageDir = join(dir, 'storage');
    await mkdir(storageDir);

    let authYaml = '';
    if (auth === 'basic') {
      const lines: string[] = [];
      for (const [u, p] of Object.entries(users)) lines.push((await run('htpasswd', ['-Bbn', u, p])).toString().trim());
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${yamlString(join(dir, 'htpasswd'))}\n`;
    } else if (auth === 'token') {
      const keyPath = join(dir, 'token.key');
      const certPath = join(dir, 'token.crt');
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=berth-test',
        '-days',
        '2',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ]);
      issuer = await startTokenIssuer({
        keyPem: await readFile(keyPath, 'utf8'),
        certPem: await readFile(certPath, 'utf8'),
        users,
        ...opts.issuer,
      });
      authYaml =
        `auth:\n  token:\n    realm: ${yamlString(issuer.url)}\n    service: ${yamlString(issuer.service)}\n` +
        `    issuer: ${yamlString(issuer.issuer)}\n    rootcertbundle: ${yamlString(certPath)}\n`;
    }

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const config =
        `version: 0.1\n` +
        `log:\n  level: warn\n  accesslog:\n    disabled: true\n` +
        `storage:\n  filesystem:\n    rootdirectory: ${yamlString(storageDir)}\n  delete:\n    enabled: true\n` +
        `  maintenance:\n    uploadpurging:\n      enabled: false\n` +
        `http:\n  addr: 127.0.0.1:${port}\n  secret: berth-test-secret\n` +
        `health:\n  storagedriver:\n    enabled: false\n` +
        authYaml;
      const configPath = join(dir, 'config.yml');
      await writeFile(configPath, config);

      const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
      trackChild(child);
      let output = '';
      const keep = (d: Buffer): void => {
        output = (output + d.toString()).slice(-64 * 1024);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let spawnError: Error | undefined;
      child.on('error', (e) => (spawnError = e));

      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let ready = false;
      while (Date.now() < deadline && child.exitCode === null && child.signalCode === null && !spawnError) {
        const status = await probe(`${url}/v2/`);
        if (status === 200 || (auth !== 'none' && status === 401)) {
          ready = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!ready) {
        await stopChild(child);
        const died = child.exitCode !== null || child.signalCode !== null;
        if (died && /address already in use/i.test(output) && attempt < BIND_ATTEMPTS) continue;
        throw new Error(
          `docker-registry ${died ? `exited (${child.exitCode ?? child.signalCode})` : `did not answer GET /v2/ within ${READY_TIMEOUT_MS} ms`}` +
            `${spawnError ? `: ${spawnError.message}` : ''}; its output:\n${output}`,
        );
      }

      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        unregister();
        await stopChild(child);
        await issuer?.stop();
        await removeTempDir(dir);
      };
      const unregister = registerCleanup(stop);
      const first = Object.entries(users)[0];
      return {
        host: `127.0.0.1:${port}`,
        url,
        auth,
        username: first?.[0],
        password: first?.[1],
        users,
        tokenIssuer: issuer,
        storageDir,
        logs: () => output,
        stop,
      };
    }
  } catch (e) {
    await issuer?.stop();
    await removeTempDir(dir);
    throw e;
  }
}
