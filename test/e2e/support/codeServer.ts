/**
 * A real VS Code for end-to-end tests: code-server 4.100.3 as scripts/setup-e2e.sh installs it,
 * the packaged extension (.vsix, built by `vsce package`) installed into a fresh extensions dir,
 * served on 127.0.0.1 and stopped by PID in cleanup.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../../support/agent';
import { freePort } from '../../support/registry';
import { makeTempDir, registerCleanup, run, stopChild, trackChild } from '../../support/tmp';

export const CODE_SERVER_VERSION = '4.100.3';

/** Where setup-e2e.sh put code-server (same rule as the script). */
export function codeServerEntry(): string {
  const dir = process.env.BERTH_CODE_SERVER_DIR ?? join(homedir(), '.cache', 'berth', `code-server-${CODE_SERVER_VERSION}`);
  const entry = join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!existsSync(join(dir, '.berth-installed')) || !existsSync(entry)) {
    throw new Error(`code-server ${CODE_SERVER_VERSION} is not installed in ${dir}: run "bash scripts/setup-e2e.sh" (npm test does)`);
  }
  return entry;
}

/** Packages the extension as users get it: `vsce package` from the built dist/. Returns the .vsix path. */
export async function packageExtension(): Promise<string> {
  const out = join(await makeTempDir('berth-vsix-'), 'berth.vsix');
  const vsce = join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
  await run(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--out', out], {
    cwd: REPO,
    timeoutMs: 120_000,
  });
  return out;
}

export interface CodeServer {
  url: string;
  userDataDir: string;
  extensionsDir: string;
  folder: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  vsix: string;
  /** User settings (settings.json). */
  settings: Record<string, unknown>;
  /** Extra environment for the server and its extension host. */
  env?: NodeJS.ProcessEnv;
}

/** A fresh VS Code profile under `base`: user data with `settings`, an extensions dir, the folder to open. */
export async function makeProfile(
  base: string,
  settings: Record<string, unknown>,
): Promise<{ userDataDir: string; extensionsDir: string; folder: string }> {
  const userDataDir = join(base, 'user-data');
  const extensionsDir = join(base, 'extensions');
  const folder = join(base, 'workspace');
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  await mkdir(extensionsDir);
  await mkdir(folder);
  await writeFile(join(userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  return { userDataDir, extensionsDir, folder };
}

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const entry = codeServerEntry();
  const base = await makeTempDir('berth-code-server-');
  const { userDataDir, extensionsDir, folder } = await makeProfile(base, opts.settings);
  const port = await freePort();
  const config = join(base, 'config.yaml');
  await writeFile(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const common = ['--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  const env = { ...process.env, ...opts.env, HOME: base };
  await run(process.execPath, [entry, ...common, '--install-extension', opts.vsix], { env, timeoutMs: 60_000 });

  const child = spawn(
    process.execPath,
    [
      entry,
      ...common,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      folder,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  trackChild(child);
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-64 * 1024));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stop = async () => {
    unregister();
    await stopChild(child);
  };
  const unregister = registerCleanup(stop);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await status(`${url}/healthz`)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer /healthz within 30 s (exit ${child.exitCode}): ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, userDataDir, extensionsDir, folder, logs: () => output, stop };
}

function status(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
