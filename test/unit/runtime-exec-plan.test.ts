/** buildExecPlan and the exec/tty records of the helper's wire format, without root. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { mergeEnv } from '../../agent/runtime/containers/exec';
import { encodePlan } from '../../agent/runtime/helper';
import { buildExecPlan, buildLaunchPlan, DEFAULT_CAPABILITIES } from '../../agent/runtime/plan';
import type { ExecSpec } from '../../agent/runtime/spec';

const spec = (over: Partial<ExecSpec['process']> = {}, rest: Partial<ExecSpec> = {}): ExecSpec => ({
  pid: 4242,
  process: { args: ['sh'], env: ['PATH=/bin', 'A=1'], cwd: '/work', user: { uid: 1000, gid: 1000, additionalGids: [5] }, ...over },
  cgroupProcs: ['/sys/fs/cgroup/pids/berth/x/cgroup.procs'],
  ...rest,
});

describe('exec plan', () => {
  it("joins the init's namespaces and cgroup, creates none, and confines the process like a launch", () => {
    const p = buildExecPlan(spec());
    assert.deepEqual(p.namespaces, []);
    assert.deepEqual(p.join, { pid: 4242, namespaces: ['mount', 'uts', 'ipc', 'net', 'pid', 'cgroup'] });
    assert.deepEqual(p.cgroupProcs, ['/sys/fs/cgroup/pids/berth/x/cgroup.procs']);
    assert.deepEqual(
      p.ops.map((o) => o.op),
      ['chdir', 'identity', 'capabilities', 'no-new-privs', 'close-fds', 'exec'],
    );
    const caps = p.ops.find((o) => o.op === 'capabilities');
    assert.ok(caps && caps.op === 'capabilities');
    assert.deepEqual([...caps.bounding].sort(), [...DEFAULT_CAPABILITIES].sort());
    assert.deepEqual(p.ops.at(-1), { op: 'exec', path: 'sh', args: ['sh'], env: ['PATH=/bin', 'A=1'] });
  });

  it('a terminal puts tty after identity; host network and a user namespace change what is joined', () => {
    const p = buildExecPlan(
      spec(
        { terminal: { rows: 30, cols: 100 } },
        {
          network: 'host',
          userNamespace: {
            uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
            gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
          },
        },
      ),
    );
    assert.deepEqual(p.ops.map((o) => o.op).slice(0, 3), ['chdir', 'identity', 'tty']);
    assert.deepEqual(p.join?.namespaces, ['user', 'mount', 'uts', 'ipc', 'pid', 'cgroup']);
  });

  it('refuses what the helper would: no command, bad env, relative cwd, bad ids or size', () => {
    const bad = (s: ExecSpec, re: RegExp) =>
      assert.throws(
        () => buildExecPlan(s),
        (e: unknown) =>
          e instanceof BerthError &&
          e.code === ErrorCode.InvalidArgument &&
          re.test(e.message) &&
          e.message.startsWith('exec in container:'),
      );
    bad(spec({ args: [] }), /no command/);
    bad(spec({ env: ['NOEQUALS'] }), /has no "="/);
    bad(spec({ cwd: 'rel' }), /not an absolute path/);
    bad(spec({ user: { uid: -1, gid: 0 } }), /uid -1/);
    bad(spec({ terminal: { rows: 70000, cols: 1 } }), /terminal size/);
    bad({ ...spec(), pid: 0 }, /pid 0/);
  });

  it('encodes join (6) after the cgroups, no namespaces record, and tty (27)', () => {
    const b = encodePlan(buildExecPlan(spec({ terminal: { rows: 3, cols: 4 } })));
    assert.equal(b.subarray(0, 4).toString(), 'BRTH');
    const ops: number[] = [];
    let at = 8;
    while (at < b.length) {
      const op = b.readUInt32LE(at);
      const n = b.readUInt32LE(at + 4);
      at += 8;
      for (let i = 0; i < n; i++) at += 4 + b.readUInt32LE(at);
      ops.push(op);
    }
    assert.deepEqual(ops, [5, 6, 21, 22, 27, 23, 24, 25, 26, 0]);
  });

  it('a launch with a terminal has tty between identity and capabilities', () => {
    const p = buildLaunchPlan({
      id: 'x',
      hostname: 'h',
      rootfs: { lowerDirs: ['/l'], upperDir: '/u', workDir: '/w', mountPoint: '/m' },
      process: { args: ['sh'], env: [], cwd: '/', user: { uid: 0, gid: 0 }, terminal: { rows: 1, cols: 2 } },
    });
    const names = p.ops.map((o) => o.op);
    assert.equal(names.indexOf('tty'), names.indexOf('identity') + 1);
    assert.equal(names.indexOf('capabilities'), names.indexOf('tty') + 1);
  });

  it("merges env by name: the exec's entries win, new ones are appended", () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=x', 'C=3']), ['PATH=/bin', 'A=x', 'B=2', 'C=3']);
  });
});
