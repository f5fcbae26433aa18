/**
 * The pull benchmark: Berth against skopeo+umoci and against the tar floor, alternated in one run.
 *
 * Images (built offline, pushed to a Debian `docker-registry` on 127.0.0.1):
 *   debian   a Debian bookworm minbase root filesystem (debootstrap, cached in bench/.cache/) as
 *            two gzip layers: everything but /usr/share, then /usr/share
 *   busybox  the one-layer busybox test image from test/support/images.ts
 *
 * Tools, each into fresh directories on the filesystem being measured:
 *   berth request   `image/pull` over the agent's socket; a fresh agent (new BERTH_ROOT) is started
 *                   before the clock starts, the clock covers the request only
 *   berth warm      the same, after that agent has pulled a tiny unrelated image (JIT, modules loaded)
 *   berth CLI       `berth pull REF` as a process, against another freshly started agent
 *   skopeo copy     registry -> OCI layout; then `umoci unpack` layout -> bundle; and their sum
 *   tar floor       `sha256sum` of the blobs plus `tar -xzf` of both layers, one after the other
 *
 * Usage: node --import tsx bench/pull.ts [--iterations N] [--profile]
 *   (BENCH_ITERATIONS=N works too). Writes bench/results/pull-<date>.md and bench/results/latest.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc';
import { SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { SourceMap } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { basename, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PullProgressNotification, PullRequest, InspectImageRequest, VersionRequest, type LayerProgress } from '../protocol';
import { BUNDLE, REPO, startAgent, type TestAgent } from '../test/support/agent';
import { buildImage, buildLayer, busyboxImage, MediaTypes, type BuiltImage, type BuiltLayer } from '../test/support/images';
import { pushImage } from '../test/support/push';
import { startRegistry, type TestRegistry } from '../test/support/registry';
import { registerCleanup, requireTools, run, runCleanups, stopChild, trackChild } from '../test/support/tmp';

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const BENCH = __dirname;
const CACHE = join(BENCH, '.cache');
const RESULTS = join(BENCH, 'results');
const ROOTFS_DIR = join(CACHE, 'debian-bookworm-minbase');
const IMAGE_DIR = join(CACHE, 'debian-image');
const SUITE = 'bookworm';

const argv = process.argv.slice(2);
function argValue(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
const ITERATIONS = Number(argValue('--iterations') ?? process.env.BENCH_ITERATIONS ?? 5);
const PROFILE_ONLY = argv.includes('--profile-only');
const PROFILE = PROFILE_ONLY || argv.includes('--profile') || process.env.BENCH_PROFILE === '1';
if (!Number.isInteger(ITERATIONS) || ITERATIONS < 1) throw new Error(`--iterations wants a positive integer, got ${ITERATIONS}`);
/** Free bytes a filesystem column needs (tmpfs outputs are removed after each iteration). */
const TMPFS_NEEDS = 3 * 2 ** 30;
const EXT4_NEEDS = 8 * 2 ** 30;

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `(${cmd} failed: ${(e as Error).message.split('\n')[0]})`;
  }
}

// ---------------------------------------------------------------------------------------------
// The Debian root filesystem (debootstrap, cached)
// ---------------------------------------------------------------------------------------------

/** The Debian mirror this machine's apt uses (first non-security bookworm source). */
export function debianMirror(): string {
  const candidates: string[] = [];
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
    }
  }
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      // deb822 stanzas separated by blank lines.
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim() ?? '';
        if (/^enabled:\s*no/im.test(stanza)) continue;
        if (!field('Types').split(/\s+/).includes('deb')) continue;
        if (!field('Suites').split(/\s+/).includes(SUITE)) continue;
        candidates.push(...field('URIs').split(/\s+/).filter(Boolean));
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === SUITE) candidates.push(m[1]);
      }
    }
  }
  const mirror = candidates.find((u) => /^https?:\/\//.test(u));
  if (!mirror) throw new Error(`no "deb ... ${SUITE}" source with an http(s) URI in ${files.join(', ') || '/etc/apt'}`);
  return mirror;
}

/**
 * bench/.cache/debian-bookworm-minbase/rootfs: `debootstrap --variant=minbase`, then trimmed the way
 * Debian's container images are (apt caches and lists removed, /dev emptied). Built in a temp dir
 * and renamed into place, so an interrupted build is never mistaken for a finished one.
 */
async function ensureRootfs(): Promise<string> {
  const rootfs = join(ROOTFS_DIR, 'rootfs');
  if (existsSync(join(ROOTFS_DIR, 'complete'))) return rootfs;
  rmSync(ROOTFS_DIR, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, 'debootstrap-'));
  const unregister = registerCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const mirror = debianMirror();
  log(`debootstrap --variant=minbase ${SUITE} from ${mirror} (once; cached in ${relative(REPO, ROOTFS_DIR)})`);
  const t0 = performance.now();
  await run('debootstrap', ['--variant=minbase', SUITE, join(tmp, 'rootfs'), mirror], { timeoutMs: 15 * 60_000 });
  const r = join(tmp, 'rootfs');
  const emptyDir = (d: string, keep: (name: string) => boolean = () => false) => {
    for (const n of readdirSync(d)) if (!keep(n)) rmSync(join(d, n), { recursive: true, force: true });
  };
  emptyDir(join(r, 'var/cache/apt/archives'), (n) => n === 'partial' || n === 'lock');
  emptyDir(join(r, 'var/cache/apt'), (n) => n === 'archives');
  emptyDir(join(r, 'var/lib/apt/lists'), (n) => n === 'partial' || n === 'lock');
  emptyDir(join(r, 'dev'));
  writeFileSync(join(tmp, 'mirror'), mirror + '\n');
  writeFileSync(join(tmp, 'complete'), new Date().toISOString() + '\n');
  renameSync(tmp, ROOTFS_DIR);
  unregister();
  log(`debootstrap done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return rootfs;
}

// ---------------------------------------------------------------------------------------------
// The Debian image (two gzip layers, cached next to the root filesystem)
// ---------------------------------------------------------------------------------------------

interface LayerFile {
  /** The blob on disk (gzip). */
  path: string;
  digest: string;
  diffId: string;
  size: number;
  tarSize: number;
  createdBy: string;
}

const TAR_CREATE = [
  '--xattrs',
  '--xattrs-include=*',
  '--numeric-owner',
  '--format=pax',
  '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
  '--sort=name',
];

/** GNU tar | gzip -n into `out`, hashing the tar on the way (diffID) and the blob after. */
function tarGzip(rootfs: string, tarArgs: string[], out: string): Promise<{ diffId: string; tarSize: number }> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', [...TAR_CREATE, '-C', rootfs, '-cf', '-', ...tarArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    const gz = spawn('sh', ['-c', 'exec gzip -n -6 > "$1"', 'sh', out], { stdio: ['pipe', 'ignore', 'pipe'] });
    trackChild(tar);
    trackChild(gz);
    const hash = createHash('sha256');
    let tarSize = 0;
    let err = '';
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
    gz.stderr.on('data', (d: Buffer) => (err += d.toString()));
    tar.stdout.on('data', (d: Buffer) => {
      hash.update(d);
      tarSize += d.length;
      if (!gz.stdin.write(d)) {
        tar.stdout.pause();
        gz.stdin.once('drain', () => tar.stdout.resume());
      }
    });
    let tarCode: number | null = null;
    tar.on('close', (code) => {
      tarCode = code;
      gz.stdin.end();
    });
    gz.on('close', (code) => {
      if (tarCode === 0 && code === 0) resolve({ diffId: 'sha256:' + hash.digest('hex'), tarSize });
      else reject(new Error(`tar (${tarCode}) | gzip (${code}) for ${out} failed: ${err.trim()}`));
    });
    tar.on('error', reject);
    gz.on('error', reject);
  });
}

async function fileDigest(path: string): Promise<string> {
  const out = (await run('sha256sum', [path])).toString();
  return 'sha256:' + out.split(/\s+/)[0];
}

/**
 * The two layers of the Debian image, built once per root filesystem:
 *   layer 1  everything but /usr/share
 *   layer 2  /usr/share (its parent /usr is implicit)
 */
async function ensureDebianLayers(rootfs: string): Promise<LayerFile[]> {
  const meta = join(IMAGE_DIR, 'layers.json');
  const stamp = readFileSync(join(ROOTFS_DIR, 'complete'), 'utf8');
  if (existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { rootfsStamp: string; layers: LayerFile[] };
    if (m.rootfsStamp === stamp && m.layers.every((l) => existsSync(l.path))) return m.layers;
  }
  rmSync(IMAGE_DIR, { recursive: true, force: true });
  mkdirSync(IMAGE_DIR, { recursive: true });
  log('building the Debian image layers (GNU tar --format=pax --sort=name | gzip -n)');
  const specs = [
    { name: 'layer1.tar.gz', args: ['--exclude=./usr/share', '.'], createdBy: 'ADD debian-minbase-without-usr-share / # berth bench' },
    { name: 'layer2.tar.gz', args: ['./usr/share'], createdBy: 'ADD debian-minbase-usr-share /usr/share # berth bench' },
  ];
  const layers: LayerFile[] = [];
  for (const s of specs) {
    const path = join(IMAGE_DIR, s.name);
    const { diffId, tarSize } = await tarGzip(rootfs, s.args, path);
    layers.push({ path, digest: await fileDigest(path), diffId, size: lstatSync(path).size, tarSize, createdBy: s.createdBy });
  }
  writeFileSync(meta, JSON.stringify({ rootfsStamp: stamp, layers }, null, 2) + '\n');
  return layers;
}

// ---------------------------------------------------------------------------------------------
// Images in the registry
// ---------------------------------------------------------------------------------------------

interface BenchImage {
  name: string;
  /** Reference as Berth and skopeo take it: 127.0.0.1:PORT/bench/debian:bookworm */
  ref: string;
  tag: string;
  blobs: LayerFile[];
  compressedBytes: number;
  tarBytes: number;
}

function layerFromFile(l: LayerFile): BuiltLayer {
  const bytes = readFileSync(l.path);
  return {
    digest: l.digest,
    diffId: l.diffId,
    size: l.size,
    mediaType: MediaTypes.ociLayerGzip,
    compression: 'gzip',
    bytes,
    tar: Buffer.alloc(0), // not needed to push; the uncompressed tar is never held in memory here
    createdBy: l.createdBy,
  };
}

async function pushBench(
  registry: TestRegistry,
  name: string,
  repo: string,
  tag: string,
  img: BuiltImage,
  blobs: LayerFile[],
): Promise<BenchImage> {
  await pushImage(registry, repo, tag, img);
  return {
    name,
    ref: `${registry.host}/${repo}:${tag}`,
    tag,
    blobs,
    compressedBytes: blobs.reduce((a, b) => a + b.size, 0),
    tarBytes: blobs.reduce((a, b) => a + b.tarSize, 0),
  };
}

async function prepareImages(registry: TestRegistry): Promise<BenchImage[]> {
  const rootfs = await ensureRootfs();
  const debLayers = await ensureDebianLayers(rootfs);
  const debian = buildImage({
    layers: debLayers.map(layerFromFile),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
  });

  const bb = await busyboxImage();
  const bbDir = join(CACHE, 'busybox-image');
  mkdirSync(bbDir, { recursive: true });
  const bbPath = join(bbDir, 'layer1.tar.gz');
  writeFileSync(bbPath, bb.layers[0].bytes);
  const bbLayer: LayerFile = {
    path: bbPath,
    digest: bb.layers[0].digest,
    diffId: bb.layers[0].diffId,
    size: bb.layers[0].size,
    tarSize: bb.layers[0].tar.length,
    createdBy: bb.layers[0].createdBy,
  };
  const warm = buildImage({ layers: [await buildLayer([{ type: 'file', path: '/warm-up', content: 'berth bench\n' }])] });
  await pushImage(registry, 'bench/warm-up', 'latest', warm);
  warmRef = `${registry.host}/bench/warm-up:latest`;
  return [
    await pushBench(registry, 'debian', 'bench/debian', SUITE, debian, debLayers),
    await pushBench(registry, 'busybox', 'bench/busybox', 'latest', bb, [bbLayer]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Filesystems
// ---------------------------------------------------------------------------------------------

interface Filesystem {
  label: string;
  /** Where the per-run directory is made. */
  parent: string;
  fstype: string;
  options: string;
  /** Remove each iteration's outputs right after it (tmpfs: memory; never on ext4, see README). */
  removeEachIteration: boolean;
  skipped?: string;
}

function findmnt(path: string): { fstype: string; options: string; target: string } {
  const out = sh('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS,TARGET', '-T', path]);
  const [fstype = '?', options = '?', target = '?'] = out.split(/\s+/);
  return { fstype, options, target };
}

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

function filesystems(): Filesystem[] {
  const list: Filesystem[] = [];
  const disk = findmnt('/var/tmp');
  list.push({
    label: `${disk.fstype} (/var/tmp)`,
    parent: '/var/tmp',
    fstype: disk.fstype,
    options: `${disk.target} ${disk.options}`,
    removeEachIteration: false,
    ...(freeBytes('/var/tmp') < EXT4_NEEDS
      ? { skipped: `/var/tmp has ${(freeBytes('/var/tmp') / 2 ** 30).toFixed(1)} GiB free, needs ${EXT4_NEEDS / 2 ** 30}` }
      : {}),
  });
  const shm = existsSync('/dev/shm') ? findmnt('/dev/shm') : undefined;
  if (!shm || shm.fstype !== 'tmpfs') {
    list.push({
      label: 'tmpfs (/dev/shm)',
      parent: '/dev/shm',
      fstype: shm?.fstype ?? 'none',
      options: '',
      removeEachIteration: true,
      skipped: '/dev/shm is not a tmpfs here',
    });
  } else {
    const free = freeBytes('/dev/shm');
    list.push({
      label: 'tmpfs (/dev/shm)',
      parent: '/dev/shm',
      fstype: 'tmpfs',
      options: `${shm.target} ${shm.options}`,
      removeEachIteration: true,
      ...(free < TMPFS_NEEDS ? { skipped: `/dev/shm has ${(free / 2 ** 30).toFixed(1)} GiB free, needs ${TMPFS_NEEDS / 2 ** 30}` } : {}),
    });
  }
  // tmpfs first: the ext4 column leaves writeback and a slow removal behind it.
  return list.reverse();
}

// ---------------------------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------------------------

type ToolName = 'berth-request' | 'berth-warm' | 'berth-cli' | 'skopeo+umoci' | 'floor';
const TOOLS: ToolName[] = ['berth-request', 'berth-warm', 'berth-cli', 'skopeo+umoci', 'floor'];

/** Row names in the table, in print order. */
const ROWS = [
  'berth pull (image/pull request)',
  'berth pull (request, warm agent)',
  'berth pull (CLI process)',
  'skopeo copy',
  'umoci unpack',
  'skopeo copy + umoci unpack',
  'sha256sum blobs',
  'tar -xzf layers',
  'tar floor (sha256sum + tar -xzf)',
] as const;
type Row = (typeof ROWS)[number];

interface Sample {
  times: Partial<Record<Row, number>>;
  /** VmHWM of the agent after the request pull, kB. */
  hwmKb?: number;
  /** VmHWM before the pull (after start), kB. */
  startHwmKb?: number;
  phases?: Record<string, number>;
}

interface Outputs {
  /** Root filesystem directories to compare (for Berth: its layer diff dirs, bottom first). */
  trees: string[];
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

function readStatusKb(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function berthLayers(agent: TestAgent, ref: string): Promise<string[]> {
  const conn = await agent.connect();
  try {
    const info = await conn.sendRequest(InspectImageRequest.type, { reference: ref });
    return info.Berth.Layers.map((l) => l.Path);
  } finally {
    conn.dispose();
  }
}

/** A fresh agent with its store in `dir`; the clock covers only the `image/pull` request. */
async function berthRequest(img: BenchImage, dir: string, sample: Sample): Promise<Outputs> {
  const root = join(dir, 'berth-root');
  mkdirSync(root);
  const agent = await startAgent({ root });
  try {
    const conn = await agent.connect();
    await conn.sendRequest(VersionRequest.type);
    const pid = agent.child.pid!;
    sample.startHwmKb = readStatusKb(pid, 'VmHWM');
    const token = 'bench';
    const events: { t: number; digest: string; phase: LayerProgress['phase'] }[] = [];
    conn.onNotification(PullProgressNotification.type, (n) => {
      if (n.token === token) events.push({ t: performance.now(), digest: n.layer.digest, phase: n.layer.phase });
    });
    const t0 = performance.now();
    await conn.sendRequest(PullRequest.type, { reference: img.ref, progressToken: token });
    const t1 = performance.now();
    sample.times['berth pull (image/pull request)'] = (t1 - t0) / 1000;
    sample.hwmKb = readStatusKb(pid, 'VmHWM');
    sample.phases = phasesOf(img, events, t0, t1);
    conn.dispose();
    return { trees: await berthLayers(agent, img.ref) };
  } finally {
    await agent.stop();
  }
}

/**
 * Where the request's time went, from the progress notifications as the client received them
 * (the agent sends them from the same thread that unpacks, so they can lag by one chunk).
 */
function phasesOf(img: BenchImage, events: { t: number; digest: string; phase: string }[], t0: number, t1: number): Record<string, number> {
  const first = (digest: string | undefined, phase: string) =>
    events.find((e) => (digest === undefined || e.digest === digest) && e.phase === phase)?.t;
  const out: Record<string, number> = {};
  const firstAny = events.length ? events[0].t : t1;
  out['request -> first layer event (resolve manifest + config)'] = (firstAny - t0) / 1000;
  let lastDone = t0;
  let lowerDone: number | undefined;
  img.blobs.forEach((b, i) => {
    const dl = first(b.digest, 'downloading');
    const fin = first(b.digest, 'finishing');
    const done = first(b.digest, 'done');
    if (dl !== undefined && fin !== undefined) out[`layer ${i + 1}: download+verify+gunzip+untar (streamed)`] = (fin - dl) / 1000;
    if (fin !== undefined && done !== undefined) {
      // 'finishing' is sent before the layer waits for the one below it to be committed.
      const from = lowerDone !== undefined ? Math.max(fin, lowerDone) : fin;
      if (i > 0) out[`layer ${i + 1}: waiting for layer ${i} to commit`] = (from - fin) / 1000;
      out[`layer ${i + 1}: hardlinks, file index, commit`] = (done - from) / 1000;
    }
    lowerDone = done;
    if (done !== undefined) lastDone = Math.max(lastDone, done);
  });
  out['last layer done -> answer (config, manifest, image record, tag)'] = (t1 - lastDone) / 1000;
  return out;
}

/** Reference of a tiny one-file image that warms an agent up before the timed pull. */
let warmRef = '';

/**
 * Like {@link berthRequest}, but the agent has served one pull (of a tiny unrelated image) before
 * the clock starts, as a long-running agent has: its modules are loaded, its code JIT-compiled and
 * its registry connection and /v2/ ping cached. The store holds nothing of the measured image.
 */
async function berthWarm(img: BenchImage, dir: string, sample: Sample): Promise<Outputs> {
  const root = join(dir, 'berth-warm-root');
  mkdirSync(root);
  const agent = await startAgent({ root });
  try {
    const conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: warmRef, progressToken: 'warm' });
    const t0 = performance.now();
    await conn.sendRequest(PullRequest.type, { reference: img.ref, progressToken: 'bench' });
    sample.times['berth pull (request, warm agent)'] = seconds(t0);
    conn.dispose();
    // The warm-up image's layer sits beside the measured ones; compare only the measured image's.
    return { trees: await berthLayers(agent, img.ref) };
  } finally {
    await agent.stop();
  }
}

/** `berth pull REF` (bin/berth) as a process against a freshly started agent. */
async function berthCli(img: BenchImage, dir: string, sample: Sample): Promise<Outputs> {
  const root = join(dir, 'berth-cli-root');
  mkdirSync(root);
  const agent = await startAgent({ root });
  try {
    const t0 = performance.now();
    await run(process.execPath, [join(REPO, 'bin', 'berth'), 'pull', img.ref], { env: agent.env, timeoutMs: 300_000 });
    sample.times['berth pull (CLI process)'] = seconds(t0);
    return { trees: await berthLayers(agent, img.ref) };
  } finally {
    await agent.stop();
  }
}

async function skopeoUmoci(img: BenchImage, dir: string, sample: Sample): Promise<Outputs> {
  const layout = join(dir, 'oci-layout');
  const bundle = join(dir, 'umoci-bundle');
  const env = { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'no-auth.json') };
  let t0 = performance.now();
  await run(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', `docker://${img.ref}`, `oci:${layout}:${img.tag}`],
    { env, timeoutMs: 300_000 },
  );
  const copy = seconds(t0);
  t0 = performance.now();
  await run('umoci', ['unpack', '--image', `${layout}:${img.tag}`, bundle], { timeoutMs: 300_000 });
  const unpack = seconds(t0);
  sample.times['skopeo copy'] = copy;
  sample.times['umoci unpack'] = unpack;
  sample.times['skopeo copy + umoci unpack'] = copy + unpack;
  return { trees: [join(bundle, 'rootfs')] };
}

async function floor(img: BenchImage, dir: string, sample: Sample): Promise<Outputs> {
  const rootfs = join(dir, 'tar-rootfs');
  mkdirSync(rootfs);
  let t0 = performance.now();
  const sums = (
    await run(
      'sha256sum',
      img.blobs.map((b) => b.path),
    )
  ).toString();
  const sha = seconds(t0);
  img.blobs.forEach((b) => {
    if (!sums.includes(b.digest.slice(7))) throw new Error(`sha256sum of ${b.path} does not match ${b.digest}`);
  });
  t0 = performance.now();
  for (const b of img.blobs) await run('tar', ['-xzf', b.path, '-C', rootfs], { timeoutMs: 300_000 });
  const untar = seconds(t0);
  sample.times['sha256sum blobs'] = sha;
  sample.times['tar -xzf layers'] = untar;
  sample.times['tar floor (sha256sum + tar -xzf)'] = sha + untar;
  return { trees: [rootfs] };
}

const RUNNERS: Record<ToolName, (img: BenchImage, dir: string, s: Sample) => Promise<Outputs>> = {
  'berth-request': berthRequest,
  'berth-warm': berthWarm,
  'berth-cli': berthCli,
  'skopeo+umoci': skopeoUmoci,
  floor,
};

// ---------------------------------------------------------------------------------------------
// Checking that every tool produced the same files
// ---------------------------------------------------------------------------------------------

interface TreeStats {
  files: number;
  symlinks: number;
  bytes: number;
  /** Sum of uid+gid over files, a cheap check that owners were applied. */
  owners: number;
}

/** Regular files and symlinks under the given dirs (directories are skipped: implicit parents differ). */
function treeStats(dirs: string[]): TreeStats {
  const s: TreeStats = { files: 0, symlinks: 0, bytes: 0, owners: 0 };
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) s.symlinks++;
      else if (st.isFile()) {
        s.files++;
        s.bytes += st.size;
        s.owners += st.uid + st.gid;
      }
    }
  };
  for (const d of dirs) walk(d);
  return s;
}

function sameStats(a: TreeStats, b: TreeStats): boolean {
  return a.files === b.files && a.symlinks === b.symlinks && a.bytes === b.bytes && a.owners === b.owners;
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report
// ---------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits);
}

interface Column {
  image: BenchImage;
  fs: Filesystem;
  samples: Sample[];
  verified: string;
}

function tableFor(columns: Column[], skipped: Filesystem[]): string {
  const lines = [
    '| image | filesystem | tool | median s | min s | max s | × skopeo+umoci | × tar floor |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const c of columns) {
    const med = (r: Row) => median(c.samples.map((s) => s.times[r]!).filter((x) => x !== undefined));
    const peer = med('skopeo copy + umoci unpack');
    const fl = med('tar floor (sha256sum + tar -xzf)');
    for (const r of ROWS) {
      const xs = c.samples.map((s) => s.times[r]).filter((x): x is number => x !== undefined);
      if (!xs.length) continue;
      const m = median(xs);
      const bold = r.startsWith('berth') || r === 'skopeo copy + umoci unpack' || r.startsWith('tar floor');
      const tool = bold ? `**${r}**` : r;
      lines.push(
        `| ${c.image.name} | ${c.fs.label} | ${tool} | ${fmt(m)} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} | ${fmt(m / peer, 2)}× | ${fmt(m / fl, 2)}× |`,
      );
    }
  }
  for (const fs of skipped) lines.push(`| (all) | ${fs.label} | skipped: ${fs.skipped} | | | | | |`);
  return lines.join('\n');
}

function extrasFor(columns: Column[]): string {
  const out: string[] = [];
  out.push('### Berth agent memory (VmHWM from /proc/PID/status, fresh agent per pull)', '');
  out.push('| image | filesystem | after start, MiB | after the pull: median MiB | max MiB |', '|---|---|---:|---:|---:|');
  for (const c of columns) {
    const hwm = c.samples.map((s) => s.hwmKb).filter((x): x is number => x !== undefined);
    const start = c.samples.map((s) => s.startHwmKb).filter((x): x is number => x !== undefined);
    if (!hwm.length) continue;
    out.push(
      `| ${c.image.name} | ${c.fs.label} | ${fmt(median(start) / 1024, 1)} | ${fmt(median(hwm) / 1024, 1)} | ${fmt(Math.max(...hwm) / 1024, 1)} |`,
    );
  }
  out.push('', "### Where the Berth request's time goes (medians, seconds; layers run in parallel, so the rows overlap)", '');
  for (const c of columns) {
    out.push(`${c.image.name} on ${c.fs.label}:`, '', '| phase | median s |', '|---|---:|');
    const keys = Object.keys(c.samples[0]?.phases ?? {});
    for (const k of keys) out.push(`| ${k} | ${fmt(median(c.samples.map((s) => s.phases?.[k] ?? NaN)))} |`);
    out.push('');
  }
  out.push('### Same files everywhere (checked on the warm-up iteration, not timed)', '');
  for (const c of columns) out.push(`- ${c.image.name} on ${c.fs.label}: ${c.verified}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Profile (--profile): one Debian pull under `node --cpu-prof`
// ---------------------------------------------------------------------------------------------

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function summariseProfile(file: string): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const map = existsSync(BUNDLE + '.map') ? new SourceMap(JSON.parse(readFileSync(BUNDLE + '.map', 'utf8'))) : undefined;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(id);
    if (!n) return;
    const cf = n.callFrame;
    let where = cf.url ? basename(cf.url) : '';
    if (map && cf.url.endsWith('berth.js') && cf.lineNumber >= 0) {
      const e = map.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number };
      if (e?.originalSource)
        where = `${e.originalSource.replace(/^.*?\/(agent|native|protocol|cli|node_modules)\//, '$1/')}:${(e.originalLine ?? 0) + 1}`;
    }
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    const file = where.replace(/:\d+$/, '') || cf.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + dt);
    total += dt;
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
  const files = [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
  const lines = [
    `Profile of the agent's main thread over its whole life (${fmt(total / 1000, 2)} s sampled; \`(idle)\` is the thread waiting, ` +
      'e.g. for zlib on the thread pool or for the socket).',
    '',
    '| self ms | % | function (source) |',
    '|---:|---:|---|',
    ...top.map(([k, ms]) => `| ${ms.toFixed(0)} | ${((100 * ms) / total).toFixed(1)} | \`${k}\` |`),
    '',
    '| self ms | % | source file |',
    '|---:|---:|---|',
    ...files.map(([k, ms]) => `| ${ms.toFixed(0)} | ${((100 * ms) / total).toFixed(1)} | \`${k}\` |`),
  ];
  return lines.join('\n');
}

/** Waits (≤ 10 s) until the agent listens on `socket`, then opens a protocol connection. */
async function connectWhenListening(socket: string, child: ChildProcess, stderr: () => string): Promise<MessageConnection> {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}: ${stderr()}`);
    const s = await new Promise<import('node:net').Socket | undefined>((res) => {
      const c = createConnection(socket);
      c.once('connect', () => res(c));
      c.once('error', () => res(undefined));
    });
    if (s) {
      const conn = createMessageConnection(new SocketMessageReader(s), new SocketMessageWriter(s));
      conn.onClose(() => s.destroy());
      conn.listen();
      return conn;
    }
    if (i >= 100) throw new Error(`the agent did not listen on ${socket} within 10 s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function profileOnce(img: BenchImage, fs: Filesystem): Promise<string> {
  const dir = mkdtempSync(join(fs.parent, 'berth-bench-prof-'));
  const unregister = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const profDir = join(CACHE, 'profiles');
  mkdirSync(profDir, { recursive: true });
  for (const f of readdirSync(profDir)) if (!f.startsWith('agent-')) rmSync(join(profDir, f), { force: true });
  try {
    const root = join(dir, 'berth-root');
    mkdirSync(root);
    // NODE_OPTIONS may not carry --cpu-prof, so this agent is started by hand (stopped by PID).
    const socket = join(root, 'agent.sock');
    const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, BUNDLE, 'agent'], {
      env: { ...process.env, BERTH_ROOT: root, BERTH_SOCKET: socket },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    trackChild(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let took: number;
    try {
      const conn = await connectWhenListening(socket, child, () => stderr);
      const t0 = performance.now();
      await conn.sendRequest(PullRequest.type, { reference: img.ref });
      took = seconds(t0);
      conn.dispose();
    } finally {
      await stopChild(child); // SIGTERM: the agent exits normally and node writes the profile
    }
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) return `(no profile was written in ${profDir})`;
    const kept = join(profDir, `agent-${img.name}.cpuprofile`);
    renameSync(join(profDir, file), kept);
    return (
      `One ${img.name} pull on ${fs.label} under \`--cpu-prof\` took ${fmt(took)} s (profiling slows it). ` +
      `Raw profile: \`${relative(REPO, kept)}\` (open in Chrome DevTools or VS Code).\n\n${summariseProfile(kept)}`
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function measure(images: BenchImage[], fs: Filesystem): Promise<Column[]> {
  const base = mkdtempSync(join(fs.parent, 'berth-bench-'));
  const unregister = registerCleanup(() => rmSync(base, { recursive: true, force: true }));
  const columns: Column[] = [];
  try {
    for (const img of images) {
      const col: Column = { image: img, fs, samples: [], verified: '' };
      // Iteration 0 is a warm-up (page cache, the registry's caches, node's compile cache); it is
      // also where the outputs are compared. Then ITERATIONS timed ones, tools rotating order.
      for (let i = 0; i <= ITERATIONS; i++) {
        const iterDir = join(base, `${img.name}-${i}`);
        mkdirSync(iterDir);
        const sample: Sample = { times: {} };
        const order = TOOLS.map((_, k) => TOOLS[(k + i) % TOOLS.length]);
        const outputs = new Map<ToolName, Outputs>();
        for (const tool of order) {
          const dir = join(iterDir, tool);
          mkdirSync(dir);
          // No tool pays for the writeback of another's output: flush dirty pages first (untimed).
          await run('sync', []);
          outputs.set(tool, await RUNNERS[tool](img, dir, sample));
        }
        if (i === 0) {
          const ref = treeStats(outputs.get('floor')!.trees);
          const bad = TOOLS.filter((t) => !sameStats(treeStats(outputs.get(t)!.trees), ref));
          if (bad.length) {
            throw new Error(
              `${img.name} on ${fs.label}: ${bad.join(', ')} produced different files than tar: ` +
                TOOLS.map((t) => `${t} ${JSON.stringify(treeStats(outputs.get(t)!.trees))}`).join('; '),
            );
          }
          col.verified = `${ref.files} files, ${ref.symlinks} symlinks, ${ref.bytes} bytes, same owners, identical for all tools`;
        } else {
          col.samples.push(sample);
        }
        const t = sample.times;
        log(
          `${img.name} on ${fs.label} ${i === 0 ? 'warm-up' : `#${i}`}: berth ${fmt(t['berth pull (image/pull request)'])} s ` +
            `(warm agent ${fmt(t['berth pull (request, warm agent)'])}, CLI ${fmt(t['berth pull (CLI process)'])}), skopeo ${fmt(t['skopeo copy'])} + umoci ${fmt(t['umoci unpack'])}, ` +
            `floor ${fmt(t['tar floor (sha256sum + tar -xzf)'])}; order ${order.join(' ')}`,
        );
        if (fs.removeEachIteration) rmSync(iterDir, { recursive: true, force: true });
      }
      columns.push(col);
    }
  } finally {
    // On a journal-less ext4 this removal slows the next extraction into the same filesystem
    // (ENVIRONMENT.md), which is why outputs there are kept until the column is finished.
    const t0 = performance.now();
    rmSync(base, { recursive: true, force: true });
    unregister();
    if (!fs.removeEachIteration) log(`removed the outputs on ${fs.label} in ${fmt(seconds(t0), 1)} s`);
  }
  return columns;
}

function versions(fss: Filesystem[]): string {
  const first = (s: string) => s.split('\n')[0];
  const cpu = cpus();
  const dirty = sh('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  return [
    `- date: ${new Date().toISOString()}`,
    `- berth: ${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}, git ${sh('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${dirty}, dist/berth.js`,
    `- node: ${process.version}`,
    `- ${first(sh('skopeo', ['--version']))}`,
    `- ${first(sh('umoci', ['--version']))}`,
    `- ${first(sh('tar', ['--version']))}; ${first(sh('gzip', ['--version']))}; sha256sum (${first(sh('sha256sum', ['--version']))})`,
    `- registry: ${first(sh('docker-registry', ['--version']))} on 127.0.0.1`,
    `- kernel: ${sh('uname', ['-sr'])}; CPU: ${cpu.length} × ${cpu[0]?.model ?? '?'}; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    ...fss.map((f) => `- filesystem ${f.label}: ${f.fstype}, mounted ${f.options}${f.skipped ? ` — skipped: ${f.skipped}` : ''}`),
  ].join('\n');
}

async function main(): Promise<void> {
  requireTools(['docker-registry', 'skopeo', 'umoci', 'debootstrap', 'tar', 'gzip', 'sha256sum', 'findmnt', 'htpasswd', 'openssl']);
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build"`);
  const started = performance.now();
  const fss = filesystems();
  const registry = await startRegistry();
  try {
    const images = await prepareImages(registry);
    for (const img of images) {
      log(
        `${img.name}: ${img.blobs.length} layer(s), ${(img.compressedBytes / 1e6).toFixed(1)} MB gzip, ${(img.tarBytes / 1e6).toFixed(1)} MB tar (${img.ref})`,
      );
    }
    const columns: Column[] = [];
    for (const fs of fss) {
      if (PROFILE_ONLY) break;
      if (fs.skipped) {
        log(`skipping ${fs.label}: ${fs.skipped}`);
        continue;
      }
      columns.push(...(await measure(images, fs)));
    }
    let profile = '';
    if (PROFILE) {
      const fs = fss.find((f) => !f.skipped && f.fstype === 'tmpfs') ?? fss.find((f) => !f.skipped)!;
      const parts: string[] = [];
      for (const img of images) {
        log(`profiling one ${img.name} pull on ${fs.label}`);
        parts.push(await profileOnce(img, fs).catch((e: Error) => `(profiling failed: ${e.message})`));
      }
      profile = parts.join('\n\n');
    }

    const table = tableFor(
      columns,
      fss.filter((f) => f.skipped),
    );
    const imagesLine = images
      .map(
        (i) =>
          `${i.name} (${i.blobs.length} gzip layer${i.blobs.length > 1 ? 's' : ''}: ${i.blobs.map((b) => `${(b.size / 1e6).toFixed(1)} MB → ${(b.tarSize / 1e6).toFixed(1)} MB tar`).join(', ')})`,
      )
      .join('; ');
    const date = new Date().toISOString().slice(0, 10);
    const doc = [
      `# Pull benchmark, ${date}`,
      '',
      `Generated by \`npm run bench\` (bench/pull.ts): ${ITERATIONS} timed iterations per tool after one warm-up, tools alternating ` +
        'in rotating order within each iteration, every output in fresh directories on the filesystem named. ' +
        '`berth pull (image/pull request)`: a fresh agent with an empty store is started first, the clock covers the request ' +
        'over the socket. `berth pull (request, warm agent)`: the same, after the fresh agent has pulled a tiny unrelated image ' +
        '(as a long-running agent would have). `berth pull (CLI process)`: the `berth pull` process against another fresh agent. ' +
        '`sync` runs (untimed) before every tool. Ratios are of medians.',
      '',
      `Images: ${imagesLine}.`,
      '',
      table,
      '',
      extrasFor(columns),
      '',
      '## Versions',
      '',
      versions(fss),
      ...(profile ? ['', '## Profile', '', profile] : []),
      '',
      `Total bench time: ${fmt(seconds(started), 0)} s.`,
      '',
    ].join('\n');
    mkdirSync(RESULTS, { recursive: true });
    if (PROFILE_ONLY) {
      const pf = join(RESULTS, `profile-${date}.md`);
      writeFileSync(pf, `# Agent CPU profiles, ${date}\n\n${profile}\n\n## Versions\n\n${versions(fss)}\n`);
      process.stdout.write(readFileSync(pf, 'utf8'));
      log(`wrote ${relative(REPO, pf)}`);
      return;
    }
    const file = join(RESULTS, `pull-${date}.md`);
    writeFileSync(file, doc);
    copyFileSync(file, join(RESULTS, 'latest.md'));
    process.stdout.write(doc);
    log(`wrote ${relative(REPO, file)} and bench/results/latest.md`);
  } finally {
    await registry.stop();
  }
}

main()
  .catch(async (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await runCleanups().catch((e) => process.stderr.write(`bench: cleanup: ${String(e)}\n`));
  });
