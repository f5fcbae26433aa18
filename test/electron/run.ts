/**
 * `npm run test:electron`: the end-to-end scenarios of test/e2e/extension.test.ts, the very same
 * ones `npm test` runs in code-server, in VS Code desktop (Electron). The VS Code build is
 * VSCODE_EXECUTABLE when set, else one @vscode/test-electron downloads from
 * update.code.visualstudio.com (cached in .vscode-test/). Without either (no variable and the
 * update server unreachable within PROBE_MS) it fails at once with one sentence saying why.
 *
 * With a build, it runs the suite under node's test runner with BERTH_E2E_VSCODE set to the
 * executable: the suite then takes its workbench from test/e2e/support/desktop.ts (the packaged
 * extension installed with that build's CLI, the window driven through playwright-core's
 * Electron support) and starts the same registry and agent as in code-server. The code-server
 * suite stays the one CI runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const UPDATE_SERVER = 'https://update.code.visualstudio.com/api/releases/stable';
const PROBE_MS = 3000;

/** Why no VS Code can be had here, or undefined when one can. */
async function unavailable(): Promise<string | undefined> {
  const given = process.env.VSCODE_EXECUTABLE;
  if (given) return existsSync(given) ? undefined : `VSCODE_EXECUTABLE is ${given}, which does not exist.`;
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
  // Loaded only now: nothing of it is needed to say why the run cannot happen.
  const { downloadAndUnzipVSCode } = await import('@vscode/test-electron');
  const executable = process.env.VSCODE_EXECUTABLE || (await downloadAndUnzipVSCode({ cachePath: join(ROOT, '.vscode-test') }));
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', join('test', 'e2e', 'extension.test.ts')],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, BERTH_E2E_VSCODE: executable } },
  );
  return r.status ?? 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`test:electron: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
