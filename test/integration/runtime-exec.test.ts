/**
 * System tests of exec and terminals at the runtime level: a real container (busybox rootfs,
 * launched by berth-helper from buildLaunchPlan), then processes entering it through
 * buildExecPlan, with and without a pty. What the exec'd process sees is compared with what the
 * container's init sees. Every helper is killed by PID in cleanup; temp dirs are removed and the
 * host's mount table is compared before and after.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { LayerUnpacker } from '../../agent/store/unpack';
import { launch, type ExitStatus, type LaunchedContainer } from '../../agent/runtime/helper';
import { buildExecPlan, buildLaunchPlan } from '../../agent/runtime/plan';
import type { ContainerSpec, ExecSpec } from '../../agent/runtime/spec';
import { busyboxLayer } from '../support/images';
import { makeTempDir, removeTempDir, requireTools } from '../support/tmp';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let work: string;
let busybox: string;
let mountsBefore: string;
const live = new Set<LaunchedContainer>();

function track(c: LaunchedContainer): LaunchedContainer {
  live.add(c);
  void c.exited.then(() => live.delete(c));
  return c;
}

async function waitFor(c: LaunchedContainer, ms = TIMEOUT_MS): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  const res = await Promise.race([c.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  clearTimeout(timer);
  if (res === 'timeout') {
    c.kill('SIGKILL');
    await c.exited;
    assert.fail(`process ${c.pid} did not exit within ${ms} ms`);
  }
  return res;
}

/** A running container: `sleep 1000` as init, hostname "box", env FROM_IMAGE=1. */
async function container(): Promise<{ c: LaunchedContainer; spec: ContainerSpec }> {
  const dir = await makeTempDir('berth-exec-c-');
  chmodSync(dir, 0o755);
  for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d));
  const spec: ContainerSpec = {
    id: 'exec-test',
    hostname: 'box',
    rootfs: { lowerDirs: [busybox], upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mountPoint: join(dir, 'rootfs') },
    process: {
      args: ['sh', '-c', 'echo init-was-here > /marker; exec sleep 1000'],
      env: [PATH_ENV, 'FROM_IMAGE=1'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
    },
  };
  const c = track(await launch(buildLaunchPlan(spec), ['ignore', 'ignore', 'ignore'], { timeoutMs: TIMEOUT_MS }));
  // The marker shows the init has run its first command.
  for (let i = 0; i < 100 && !readFileSafe(join('/proc', String(c.pid), 'root', 'marker')); i++) await sleep(20);
  return { c, spec };
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function execSpec(target: LaunchedContainer, args: string[], over: Partial<ExecSpec['process']> = {}): ExecSpec {
  return { pid: target.pid, process: { args, env: [PATH_ENV, 'FROM_IMAGE=1'], cwd: '/', user: { uid: 0, gid: 0 }, ...over } };
}

async function exec(target: LaunchedContainer, args: string[], over: Partial<ExecSpec['process']> = {}, stdin?: string) {
  const p = track(
    await launch(buildExecPlan(execSpec(target, args, over)), [stdin !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'], {
      timeoutMs: TIMEOUT_MS,
      operation: 'exec in container',
    }),
  );
  let stdout = '';
  let stderr = '';
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (stdin !== undefined) p.stdin!.end(stdin);
  const status = await waitFor(p);
  await new Promise((r) => setImmediate(r));
  return { status, stdout, stderr, pid: p.pid };
}

before(async () => {
  requireTools(['tar']);
  mountsBefore = hostMounts();
  work = await makeTempDir('berth-exec-');
  chmodSync(work, 0o755);
  busybox = join(work, 'busybox');
  mkdirSync(busybox);
  const u = new LayerUnpacker(busybox);
  await u.write((await busyboxLayer('none')).tar);
  await u.finish();
});

after(async () => {
  for (const c of live) {
    c.kill('SIGKILL');
    await Promise.race([c.exited, sleep(2000)]);
  }
  await removeTempDir(work);
  assert.equal(hostMounts().split('\n').length, mountsBefore.split('\n').length, 'the host mount table changed');
});

/** The host's mount table without /run/netns (concurrent test agents mount network namespaces there). */
function hostMounts(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => !l.split(' ')[4]?.startsWith('/run/netns'))
    .join('\n');
}

describe('exec into a running container', () => {
  it('sees the container: hostname, pid namespace, mounts, env; exit codes propagate', async () => {
    const { c } = await container();
    try {
      const r = await exec(c, [
        'sh',
        '-c',
        'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$; cat /marker; echo $FROM_IMAGE; exit 4',
      ]);
      assert.equal(r.status.code, 4, r.stderr);
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], 'box');
      assert.equal(lines[1].trim(), 'sleep 1000');
      assert.ok(Number(lines[2]) > 1 && Number(lines[2]) < 100, `pid inside: ${lines[2]}`);
      assert.equal(lines[3], 'init-was-here');
      assert.equal(lines[4], '1');
      // Namespaces: the same as the init's, from the host's view.
      for (const ns of ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup']) {
        assert.notEqual(readFileSafe(`/proc/${c.pid}/ns/${ns}`), undefined);
      }
    } finally {
      c.kill('SIGKILL');
      await waitFor(c);
    }
  });

  it('enters the same namespaces as the init, runs as the given user and cwd, reads stdin', async () => {
    const { c } = await container();
    try {
      const p = track(
        await launch(
          buildExecPlan(execSpec(c, ['sh', '-c', 'cat; id -u; id -g; pwd; sleep 5'], { user: { uid: 1000, gid: 1001 }, cwd: '/tmp' })),
          ['pipe', 'pipe', 'pipe'],
          {
            timeoutMs: TIMEOUT_MS,
          },
        ),
      );
      let out = '';
      p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stdin!.end('hi\n');
      for (let i = 0; i < 100 && !out.includes('/tmp'); i++) await sleep(20);
      const { readlinkSync } = await import('node:fs');
      for (const ns of ['mnt', 'uts', 'ipc', 'net', 'pid_for_children', 'cgroup']) {
        const n = ns === 'pid_for_children' ? 'pid' : ns;
        assert.equal(
          readlinkSync(`/proc/${p.pid}/ns/${n}`),
          readlinkSync(`/proc/${c.pid}/ns/${ns === 'pid_for_children' ? 'pid' : ns}`),
          ns,
        );
      }
      p.kill('SIGKILL');
      const st = await waitFor(p);
      assert.equal(out, 'hi\n1000\n1001\n/tmp\n');
      assert.equal(st.signal, 'SIGKILL');
    } finally {
      c.kill('SIGKILL');
      await waitFor(c);
    }
  });

  it('a missing command fails with the exec step named', async () => {
    const { c } = await container();
    try {
      await assert.rejects(
        exec(c, ['nosuch']),
        (e: unknown) =>
          e instanceof BerthError && e.code === ErrorCode.InvalidArgument && /exec in container: exec "nosuch": ENOENT/.test(e.message),
      );
    } finally {
      c.kill('SIGKILL');
      await waitFor(c);
    }
  });

  it('dies with the container', async () => {
    const { c } = await container();
    const p = track(await launch(buildExecPlan(execSpec(c, ['sleep', '100'])), ['ignore', 'ignore', 'ignore'], { timeoutMs: TIMEOUT_MS }));
    c.kill('SIGKILL');
    await waitFor(c);
    const st = await waitFor(p);
    assert.equal(st.signal, 'SIGKILL');
  });
});

describe('terminals', () => {
  /** Output until `re` matches (bounded). */
  async function until(get: () => string, re: RegExp, what: string): Promise<RegExpExecArray> {
    for (let i = 0; i < 250; i++) {
      const m = re.exec(get());
      if (m) return m;
      await sleep(20);
    }
    assert.fail(`timed out waiting for ${what}; output so far: ${JSON.stringify(get())}`);
  }

  it('exec -t: a pty of the container devpts, the size given, resize, Ctrl-C, exit code', async () => {
    const { c } = await container();
    try {
      const p = track(
        await launch(
          buildExecPlan(execSpec(c, ['sh'], { terminal: { rows: 24, cols: 80 }, env: [PATH_ENV, 'PS1=$ '] })),
          ['pipe', 'pipe', 'pipe'],
          {
            timeoutMs: TIMEOUT_MS,
            control: true,
          },
        ),
      );
      let out = '';
      p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stdin!.write('stty size; tty; echo pid=$$\n');
      await until(() => out, /pid=\d+/, 'the first answers');
      assert.match(out, /24 80/);
      assert.match(out, /\/dev\/pts\/0/);
      p.resize(33, 101);
      await sleep(100);
      p.stdin!.write('stty size\n');
      await until(() => out, /33 101/, 'the new size');
      p.stdin!.write('sleep 100\n');
      await sleep(300);
      p.stdin!.write('\x03');
      p.stdin!.write('echo after=$?\n');
      await until(() => out, /after=130/, 'the interrupted sleep (the shell survives)');
      p.stdin!.write('exit 5\n');
      const st = await waitFor(p);
      assert.equal(st.code, 5, out);
    } finally {
      c.kill('SIGKILL');
      await waitFor(c);
    }
  });

  it('launch with a terminal: the init has its own /dev/pts/0 as controlling terminal', async () => {
    const dir = await makeTempDir('berth-exec-t-');
    chmodSync(dir, 0o755);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d));
    const spec: ContainerSpec = {
      id: 'tty-test',
      hostname: 'box',
      rootfs: { lowerDirs: [busybox], upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), mountPoint: join(dir, 'rootfs') },
      process: {
        args: ['sh', '-c', 'tty; stty size; read x; echo got=$x; exit 7'],
        env: [PATH_ENV],
        cwd: '/',
        user: { uid: 0, gid: 0 },
        terminal: { rows: 50, cols: 132 },
      },
    };
    const c = track(await launch(buildLaunchPlan(spec), ['pipe', 'pipe', 'pipe'], { timeoutMs: TIMEOUT_MS, control: true }));
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until(() => out, /50 132/, 'the size');
    c.stdin!.write('hello\n');
    const st = await waitFor(c);
    assert.equal(st.code, 7);
    assert.match(out, /^\/dev\/pts\/0\r\n50 132\r\n/);
    assert.match(out, /got=hello/);
    await removeTempDir(dir);
  });
});
