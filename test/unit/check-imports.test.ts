/**
 * The import-rule check (scripts/check-imports.mjs, run by `npm test`) on small made-up trees: a
 * forbidden edge and a cycle are both reported (so the check can fail), a clean tree passes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'check-imports.mjs');
const dirs: string[] = [];

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A tree of `files` (path -> content) in a fresh temp dir; returns the checker's exit code and output. */
function check(files: Record<string, string>): { code: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'berth-check-imports-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const r = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8' });
  return { code: r.status, output: r.stdout + r.stderr };
}

/** A tree that follows every rule, with each kind of specifier the checker reads. */
const CLEAN: Record<string, string> = {
  'protocol/index.ts': "export * from './errors';\n",
  'protocol/errors.ts': 'export const E = 1;\n',
  'agent/errors.ts': "import { E } from '../protocol/errors';\nexport const F = E;\n",
  'agent/oci/reference.ts': "import { F } from '../errors';\nimport type { E } from '../../protocol/errors';\nexport const R = F;\n",
  'agent/main.ts': "import { R } from './oci/reference';\nexport const run = () => R;\n",
  'client/connection.ts': "import { R } from '../agent/oci/reference';\nimport { E } from '../protocol';\nexport const C = R + E;\n",
  'cli/main.ts':
    "import { C } from '../client/connection';\nimport type { E } from '../protocol/errors';\n// import x from '../agent/main'\nconst s = \"import '../agent/main'\";\nexport const m = () => C;\n",
  'cli/commands/agent.ts': "export const load = () => import('../../agent/main');\n",
  'extension/main.ts': "const c = require('../client/connection');\nexport const x = c;\n",
  'webview/main.ts': "import { E } from '../protocol/errors';\nexport const w = E;\n",
};

describe('check-imports', () => {
  it('passes a tree that follows the rules (comments and strings are not imports)', () => {
    const r = check(CLEAN);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output, '');
  });

  it('reports a forbidden edge and a cycle, and fails', () => {
    const r = check({
      ...CLEAN,
      // The extension reaching into the agent, through a type-only import.
      'extension/tree.ts': "import type { R } from '../agent/oci/reference';\nexport type T = R;\n",
      // A cycle in cli/ through export-from and a dynamic import.
      'cli/a.ts': "export * from './b';\nexport const a = 1;\n",
      'cli/b.ts': "export const b = () => import('./a');\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.output, /^forbidden import: extension\/tree\.ts -> agent\/oci\/reference\.ts \(extension\/ may import only/m);
    assert.match(r.output, /^import cycle in cli\/: cli\/a\.ts -> cli\/b\.ts -> cli\/a\.ts$/m);
    assert.match(r.output, /2 problem\(s\)/);
  });

  it('holds agent/oci/ to its own rule and agent/ to its denials', () => {
    const r = check({
      ...CLEAN,
      'agent/oci/digest.ts': "import { run } from '../main';\nexport const d = run;\n",
      'agent/server.ts': "import { C } from '../client/connection';\nexport const s = C;\n",
      'protocol/extra.ts': "import { F } from '../agent/errors';\nexport const p = F;\n",
      'client/bad.ts': "import { run } from '../agent/main';\nexport const b = run;\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.output, /forbidden import: agent\/oci\/digest\.ts -> agent\/main\.ts/);
    assert.match(r.output, /forbidden import: agent\/server\.ts -> client\/connection\.ts \(agent\/ must not import/);
    assert.match(r.output, /forbidden import: protocol\/extra\.ts -> agent\/errors\.ts/);
    assert.match(r.output, /forbidden import: client\/bad\.ts -> agent\/main\.ts/);
    // The one exception (cli/commands/agent.ts -> agent/main.ts) is not reported.
    assert.doesNotMatch(r.output, /cli\/commands\/agent\.ts/);
  });
});
