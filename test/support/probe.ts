/**
 * The probe (test/probe/probe.c): a small static program of the project's own that reports, as
 * one JSON object, what a process sees from inside a container. Built here on first use with
 * `gcc -static -O2` into node_modules/.cache/berth-probe/<hash of the source>/probe (never
 * committed), and packed into a test image: the busybox layer of {@link busyboxImage} plus a
 * layer holding /probe.
 *
 * {@link ProbeReport} is the shape of its output, for the assertions in
 * test/integration/probe.test.ts and escape.test.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './agent';
import { buildImage, buildLayer, busyboxLayer, type BuiltImage, type BuiltLayer } from './images';
import { run } from './tmp';

export const PROBE_SOURCE = join(REPO, 'test', 'probe', 'probe.c');

/** One escape attempt: ok means the operation succeeded (containment did NOT hold for it). */
export interface ProbeAttempt {
  attempt: string;
  ok: boolean;
  /** The errno name when it failed, e.g. "EPERM". */
  errno: string | null;
  path?: string;
  content?: string;
  [more: string]: unknown;
}

/** What the probe prints (see the header of test/probe/probe.c). */
export interface ProbeReport {
  pid: number;
  ppid: number;
  hostname: string | null;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  groups: number[];
  cwd: string | null;
  env: string[];
  umask: number;
  argv: string[];
  /** Fields of /proc/self/status, as written there (hex masks, decimal flags). */
  status: Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb' | 'NoNewPrivs' | 'Seccomp' | 'Seccomp_filters', string | null>;
  mounts: { root: string; mountPoint: string; options: string; fstype: string; source: string; superOptions: string }[];
  masked: Record<
    string,
    {
      exists: boolean;
      type?: 'dir' | 'char' | 'file' | 'other';
      entries?: number;
      bytes?: number;
      major?: number;
      minor?: number;
      errno?: string;
    }
  >;
  readonly: Record<string, { exists: boolean; mountReadOnly?: boolean; file?: string; openForWrite?: boolean; errno?: string }>;
  cgroup: {
    self: string | null;
    v1: Record<string, string | null>;
    v2: Record<string, string | null>;
  };
  interfaces: string[] | null;
  fds: { fd: number; target: string }[];
  processes: { pid: number; comm: string | null }[];
  escapes?: ProbeAttempt[];
}

let built: Promise<string> | undefined;

/**
 * The probe binary, built once per source version (the cache key is the sha256 of probe.c):
 * gcc writes to a temp name beside it, renamed into place, so concurrent test files never see
 * half a binary.
 */
export function probeBinary(): Promise<string> {
  built ??= (async () => {
    const src = readFileSync(PROBE_SOURCE);
    const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
    const dir = join(REPO, 'node_modules', '.cache', 'berth-probe', hash);
    const bin = join(dir, 'probe');
    if (existsSync(bin)) return bin;
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `probe.${process.pid}.tmp`);
    await run('gcc', ['-static', '-O2', '-Wall', '-o', tmp, PROBE_SOURCE], { timeoutMs: 120_000 });
    renameSync(tmp, bin);
    return bin;
  })();
  built.catch(() => (built = undefined));
  return built;
}

let layer: Promise<BuiltLayer> | undefined;

/** The layer holding /probe (0755, root). */
export function probeLayer(): Promise<BuiltLayer> {
  layer ??= (async () =>
    buildLayer([{ type: 'copy', path: '/probe', from: await probeBinary(), mode: 0o755 }], {
      createdBy: 'COPY probe /probe # berth test image',
    }))();
  layer.catch(() => (layer = undefined));
  return layer;
}

/**
 * The probe image: busybox (as {@link busyboxImage}: /bin/sh and applets, /etc/passwd with
 * root, app (1000) and nobody, /tmp 1777) plus /probe. Config: Env PATH and PROBE_IMAGE=1,
 * Cmd ["/probe"].
 */
export async function probeImage(): Promise<BuiltImage> {
  return buildImage({
    layers: [await busyboxLayer(), await probeLayer()],
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'PROBE_IMAGE=1'],
      Cmd: ['/probe'],
      Labels: { 'org.berth.test': 'probe' },
    },
  });
}

/** Parses the probe's stdout (exactly one JSON object and a newline), failing with the text. */
export function parseProbe(stdout: string): ProbeReport {
  try {
    return JSON.parse(stdout) as ProbeReport;
  } catch (e) {
    throw new Error(`the probe's output is not one JSON object (${(e as Error).message}):\n${stdout.slice(0, 2000)}`);
  }
}

/** The set of capability names in a /proc/self/status hex mask. */
export function capsOf(hex: string | null): bigint {
  if (hex === null) throw new Error('no capability mask in the probe report');
  return BigInt(`0x${hex}`);
}
