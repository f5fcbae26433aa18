/**
 * `npm run test:electron`: the end-to-end scenarios in VS Code desktop (Electron), through
 * @vscode/test-electron. The VS Code build is VSCODE_EXECUTABLE when set, else one downloaded
 * from update.code.visualstudio.com (cached in .vscode-test/). Without either (no variable and
 * the update server unreachable within PROBE_MS) it fails at once with one sentence saying why.
 *
 * It starts what the code-server suite starts (a registry holding busybox, an agent as root),
 * bundles the extension-host suite (suite.ts) with esbuild, and runs VS Code on a temporary user
 * profile whose settings point the extension at the agent. The code-server suite
 * (test/e2e/extension.test.ts) stays the one `npm test` runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const ROOT = join(__dirname, '..', '..');
const UPDATE_SERVER = 'https://update.code.visualstudio.com/api/releases/stable';
const PROBE_MS = 3000;

/** Why no VS Code can be had here, or undefined when one can. */
async function unavailable(): Promise<string | undefined> {
  if (process.env.VSCODE_EXECUTABLE) return undefined;
  try {
    const res = await fetch(UPDATE_SERVER, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_MS) });
    if (res.ok) return undefined;
    return `VSCODE_EXECUTABLE is unset and ${UPDATE_SERVER} answered HTTP ${res.status}, so there is no VS Code build to run the tests in.`;
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const detail = err.cause?.code ?? err.cause?.message ?? err.message;
    const why = err.name === 'TimeoutError' ? `did not answer within ${PROBE_MS} ms` : `is unreachable (${detail})`;
    return `VSCODE_EXECUTABLE is unset and ${UPDATE_SERVER} ${why}, so there is no VS Code build to run the tests in.`;
  }
}

async function main(): Promise<number> {
  const why = await unavailable();
  if (why) {
    console.error(why);
    return 1;
  }
  // Loaded only now: the support modules and the runner need the bundles, root and the tools.
  const { runTests } = await import('@vscode/test-electron');
  const { startAgent } = await import('../support/agent');
  const { busyboxImage } = await import('../support/images');
  const { pushImage } = await import('../support/push');
  const { startRegistry } = await import('../support/registry');
  const { makeTempDir, runCleanups } = await import('../support/tmp');

  const registry = await startRegistry();
  await pushImage(registry, 'e2e/box', 'v1', await busyboxImage());
  const agent = await startAgent();
  try {
    const work = await makeTempDir('berth-electron-');
    const suite = join(work, 'suite.js');
    await build({
      entryPoints: [join(__dirname, 'suite.ts')],
      outfile: suite,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['vscode'],
      logLevel: 'warning',
    });
    const userData = join(work, 'user-data');
    mkdirSync(join(userData, 'User'), { recursive: true });
    writeFileSync(
      join(userData, 'User', 'settings.json'),
      JSON.stringify({ 'berth.agentSocket': agent.socket, 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false }),
    );
    const folder = join(work, 'workspace');
    mkdirSync(folder);
    return await runTests({
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: suite,
      launchArgs: [folder, '--user-data-dir', userData, '--disable-extensions', '--no-sandbox'],
      extensionTestsEnv: { ...agent.env, BERTH_E2E_REF: `${registry.host}/e2e/box:v1`, BERTH_BUNDLE: join(ROOT, 'dist', 'berth.js') },
    });
  } finally {
    await agent.stop();
    await runCleanups();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`test:electron: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
