/**
 * `npm run demo`: the README's first command on a machine that cannot reach a public registry.
 * It starts a real registry (Debian's docker-registry) on 127.0.0.1, pushes a real busybox image
 * built from Debian's busybox-static, then runs the real `berth pull` and `berth images` against
 * the store (BERTH_ROOT, default /var/lib/berth; the CLI starts an agent there if none answers),
 * and tags the image demo/busybox, so it keeps a name once the registry's random port is gone.
 * The registry is stopped at the end; the agent and the pulled image stay, so `berth images`
 * keeps showing it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { busyboxImage } from '../test/support/images';
import { pushImage } from '../test/support/push';
import { startRegistry } from '../test/support/registry';
import { requireTools, runCleanups } from '../test/support/tmp';

async function main(): Promise<number> {
  requireTools(['docker-registry', 'tar', 'gzip']);
  const registry = await startRegistry();
  try {
    await pushImage(registry, 'library/busybox', 'latest', await busyboxImage());
    const ref = `${registry.host}/library/busybox:latest`;
    const berth = join(__dirname, '..', 'bin', 'berth');
    for (const args of [['pull', ref], ['tag', ref, 'demo/busybox:latest'], ['images']]) {
      process.stdout.write(`\n$ berth ${args.join(' ')}\n`);
      const r = spawnSync(process.execPath, [berth, ...args], { stdio: 'inherit' });
      if (r.status !== 0) return r.status ?? 1;
    }
    return 0;
  } finally {
    await registry.stop();
    await runCleanups();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
