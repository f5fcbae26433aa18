// The one build script: bundles every entry point with esbuild. Type-checking is separate
// (`npm run typecheck`). Entries that do not exist yet are an error, not a silent skip.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// `berth agent` loads the agent from its own bundle (dist/agent.js), so the CLI's other verbs
// start without parsing the agent's code.
const agentSplit = {
  name: 'agent-split',
  setup(b) {
    b.onResolve({ filter: /\/agent\/main$/ }, (args) =>
      args.importer.endsWith(join('cli', 'commands', 'agent.ts')) ? { path: './agent.js', external: true } : undefined,
    );
  },
};

const entries = [
  // The `berth` CLI.
  { in: 'cli/main.ts', out: 'berth', platform: 'node', external: [], plugins: [agentSplit] },
  // The agent, loaded by `berth agent`.
  { in: 'agent/main.ts', out: 'agent', platform: 'node', external: [] },
  // The VS Code extension; `vscode` is provided by the extension host.
  { in: 'extension/main.ts', out: 'extension', platform: 'node', external: ['vscode'] },
  // The layer inspector's page (and its stylesheet, dist/webview.css), loaded by a webview.
  { in: 'webview/main.ts', out: 'webview', platform: 'browser', format: 'iife', target: 'es2022', external: [] },
];

const started = Date.now();
await Promise.all(
  entries.map((e) =>
    build({
      absWorkingDir: root,
      entryPoints: [e.in],
      outfile: join('dist', `${e.out}.js`),
      bundle: true,
      platform: e.platform,
      format: e.format ?? 'cjs',
      target: e.target ?? 'node20',
      sourcemap: true,
      external: e.external,
      plugins: e.plugins ?? [],
      logLevel: 'warning',
      minify: false,
      define: { BERTH_VERSION: JSON.stringify(version) },
      // jsonc-parser's `main` is a UMD build whose factory requires its own files at run time,
      // which a bundle cannot follow; its ES module build bundles.
      alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    }),
  ),
);
console.log(`built ${entries.map((e) => `dist/${e.out}.js`).join(', ')} in ${Date.now() - started} ms`);
