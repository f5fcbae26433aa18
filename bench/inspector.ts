/**
 * The layer inspector's open time: from `image/layers` to the answer of the first
 * `image/layerFiles` page (what the panel waits for before it shows anything), over the agent's
 * socket, for an image of ~5,000 files. The target: under 100 ms.
 *
 * The image: two gzip layers built from /usr/share (4,000 files, then 1,000 more plus 300
 * overwrites, 200 chmod-only rewrites and a deleted directory), pushed to a Debian
 * `docker-registry` on 127.0.0.1 and pulled by a real agent.
 *
 * Measured:
 *   cold agent   a freshly started agent (same store) answers its first inspector requests:
 *                indexes read and parsed, analysis computed, code not yet optimised
 *   warm         the same requests again on that agent (the analysis is cached per image ID)
 *
 * Usage: node --import tsx bench/inspector.ts [--iterations N]   (needs dist/berth.js: npm run build)
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ImageLayersRequest, LayerFilesRequest, PullRequest } from '../protocol';
import { startAgent } from '../test/support/agent';
import { buildImage, buildLayer, whiteout, type StageEntry } from '../test/support/images';
import { pushImage } from '../test/support/push';
import { startRegistry } from '../test/support/registry';
import { makeTempDir, runCleanups } from '../test/support/tmp';

const argv = process.argv.slice(2);
const at = argv.indexOf('--iterations');
const ITERATIONS = at >= 0 ? Number(argv[at + 1]) : Number(process.env.BENCH_ITERATIONS ?? 7);

/** Up to `n` regular files under `dir`, in a stable order. */
function files(dir: string, n: number): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (out.length >= n) return;
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 1_000_000) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const src = files('/usr/share', 5500);
  if (src.length < 5000) throw new Error(`only ${src.length} files under /usr/share`);
  const rel = (p: string) => p; // stage paths are absolute
  const base: StageEntry[] = src.slice(0, 4000).map((p) => ({ type: 'copy', path: rel(p), from: p }));
  const upper: StageEntry[] = [
    ...src.slice(4000, 5000).map((p): StageEntry => ({ type: 'copy', path: rel(p), from: p })),
    ...src.slice(0, 300).map((p): StageEntry => ({ type: 'file', path: rel(p), content: `rewritten ${p}\n` })),
    ...src.slice(300, 500).map((p): StageEntry => ({ type: 'copy', path: rel(p), from: p, mode: 0o600 })),
    whiteout(rel(src[3999]).split('/').slice(0, 3).join('/')),
  ];
  const img = buildImage({
    layers: [await buildLayer(base, { createdBy: 'COPY share /usr/share' }), await buildLayer(upper, { createdBy: 'RUN update' })],
  });
  const registry = await startRegistry();
  const ref = `${registry.host}/bench/inspector:latest`;
  await pushImage(registry, 'bench/inspector', 'latest', img);
  const root = await makeTempDir('berth-bench-inspector-');
  {
    const agent = await startAgent({ root });
    const conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    await agent.stop();
  }

  const open = async (conn: Awaited<ReturnType<Awaited<ReturnType<typeof startAgent>>['connect']>>) => {
    const t = performance.now();
    const summary = await conn.sendRequest(ImageLayersRequest.type, { reference: ref });
    const page = await conn.sendRequest(LayerFilesRequest.type, { reference: ref, layer: 0, limit: 5000 });
    return { ms: performance.now() - t, summary, page };
  };

  const cold: number[] = [];
  const warm: number[] = [];
  let described = '';
  for (let i = 0; i < ITERATIONS; i++) {
    const agent = await startAgent({ root });
    const conn = await agent.connect();
    const first = await open(conn);
    cold.push(first.ms);
    for (let k = 0; k < 5; k++) warm.push((await open(conn)).ms);
    if (!described) {
      const s = first.summary;
      const entries = s.layers.reduce((n, l) => n + l.entries, 0);
      described = `${s.layers.length} layers, ${entries} index records (${s.efficiency.mergedEntries} paths in the final tree), first page ${first.page.entries.length} of ${first.page.total}; wasted ${s.efficiency.wastedFiles} files, ${s.efficiency.wastedBytes} bytes (${s.efficiency.identicalBytes} identical)`;
    }
    await agent.stop();
  }
  const fmt = (xs: number[]) =>
    `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;
  console.log(`image: ${described}`);
  console.log(`open (image/layers + first image/layerFiles), cold agent: ${fmt(cold)}`);
  console.log(`open (image/layers + first image/layerFiles), warm:       ${fmt(warm)}`);
  console.log(`target: < 100 ms — ${median(cold) < 100 ? 'met' : 'NOT met'} cold, ${median(warm) < 100 ? 'met' : 'NOT met'} warm`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
