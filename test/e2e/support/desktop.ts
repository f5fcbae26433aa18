/**
 * VS Code desktop (Electron) as the end-to-end suite's workbench, for `npm run test:electron`
 * (test/electron/run.ts): the build at `executable` (VSCODE_EXECUTABLE, or one @vscode/test-electron
 * downloaded), the packaged extension installed with that build's own CLI into a fresh extensions
 * dir, started on a fresh user-data dir with the test folder open, and driven through
 * playwright-core's Electron support. Its window is a playwright Page on the same workbench DOM as
 * code-server's, so test/e2e/extension.test.ts runs the very same scenarios on either.
 *
 * It cannot run on the development machines (no VS Code build is reachable there): the runner
 * refuses at once with a sentence, and the code-server workbench is what `npm test` uses.
 */
import { resolveCliArgsFromVSCodeExecutablePath } from '@vscode/test-electron';
import { _electron, type Page } from 'playwright-core';
import { makeTempDir, registerCleanup, run } from '../../support/tmp';
import { type CodeServerOptions, makeProfile } from './codeServer';

/** What the scenarios need of a workbench, whichever VS Code serves it. */
export interface Workbench {
  page: Page;
  /** The folder VS Code has open. */
  folder: string;
  /** Where the extension was installed. */
  extensionsDir: string;
}

export async function startDesktop(opts: CodeServerOptions & { executable: string }): Promise<Workbench> {
  const base = await makeTempDir('berth-vscode-desktop-');
  const { userDataDir, extensionsDir, folder } = await makeProfile(base, opts.settings);
  const dirs = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  const env = { ...process.env, ...opts.env, HOME: base } as Record<string, string>;

  const [cli, ...cliArgs] = resolveCliArgsFromVSCodeExecutablePath(opts.executable, { reuseMachineInstall: true });
  await run(cli, [...cliArgs, ...dirs, '--install-extension', opts.vsix], { env, timeoutMs: 120_000 });

  const app = await _electron.launch({
    executablePath: opts.executable,
    args: [
      ...dirs,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-updates',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--disable-telemetry',
      folder,
    ],
    env,
    timeout: 60_000,
  });
  const unregister = registerCleanup(() => app.close());
  app.on('close', unregister);
  const page = await app.firstWindow({ timeout: 60_000 });
  return { page, folder, extensionsDir };
}
