/**
 * The extension-host half of `npm run test:electron` (run.ts bundles this file and VS Code loads
 * it as extensionTestsPath): scenarios of the code-server suite (test/e2e/extension.test.ts) that
 * the VS Code API can drive without a browser. `run` resolves when every scenario passed and
 * rejects with the first failure, naming the scenario; the runner turns that into its exit code.
 *
 * Environment from run.ts: the agent's (BERTH_SOCKET, BERTH_ROOT, ...), BERTH_E2E_REF (an image
 * in the test registry) and BERTH_BUNDLE (dist/berth.js, the CLI).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'berth.berth';

/** The `berth` CLI against the test agent; its standard output. */
function berth(args: string[]): string {
  return execFileSync(process.execPath, [process.env.BERTH_BUNDLE ?? '', ...args], { encoding: 'utf8', timeout: 120_000 });
}

const scenarios: [string, () => Promise<void>][] = [
  [
    'installs and activates the extension',
    async () => {
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext, `${EXTENSION_ID} is installed`);
      await ext.activate();
      assert.ok(ext.isActive);
    },
  ],
  [
    'registers every command the package contributes',
    async () => {
      const root = vscode.extensions.getExtension(EXTENSION_ID)?.extensionPath ?? '';
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { contributes: { commands: { command: string }[] } };
      const have = new Set(await vscode.commands.getCommands(true));
      const missing = pkg.contributes.commands.map((c) => c.command).filter((c) => !have.has(c));
      assert.deepEqual(missing, []);
    },
  ],
  [
    'pulls an image and refreshes the Images view with it',
    async () => {
      const ref = process.env.BERTH_E2E_REF ?? '';
      berth(['pull', ref]);
      await vscode.commands.executeCommand('berth.image.refresh');
      assert.match(berth(['images']), /e2e\/box/);
    },
  ],
  [
    'shows a tag made by `berth tag`',
    async () => {
      berth(['tag', process.env.BERTH_E2E_REF ?? '', 'e2e/box:live']);
      await vscode.commands.executeCommand('berth.image.refresh');
      assert.match(berth(['images']), /live/);
    },
  ],
];

export async function run(): Promise<void> {
  for (const [title, scenario] of scenarios) {
    try {
      await scenario();
      console.log(`ok - ${title}`);
    } catch (e) {
      console.log(`not ok - ${title}`);
      throw new Error(`${title}: ${(e as Error).message}`);
    }
  }
}
