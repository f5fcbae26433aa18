// Builds native/ with node-gyp against the headers of the Node that runs this script, so nothing is
// downloaded: Debian's Node keeps them in <prefix>/include/node. Runs from `npm ci` (the install
// script) and can be re-run by hand.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = dirname(dirname(process.execPath));
const args = ['rebuild', '--directory', join(root, 'native')];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const gyp = process.env.npm_config_node_gyp;
const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...args]] : ['npx', ['--yes', 'node-gyp', ...args]];
const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('berth: building the native addon failed; gcc, make, python3 and Node headers are needed (see README).');
  process.exit(r.status ?? 1);
}
