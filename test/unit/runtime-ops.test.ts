/**
 * The op table is declared once, in native/helper/ops.def (the C enum and the helper's table are
 * made from it by an X-macro); agent/runtime/helper.ts mirrors it as `OP`. This test reads the C
 * side and fails when the two drift apart: a code, a name, a record on one side only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodePlan, OP } from '../../agent/runtime/helper';
import { buildExecPlan, buildLaunchPlan, type LaunchOp } from '../../agent/runtime/plan';
import type { ContainerSpec, ExecSpec } from '../../agent/runtime/spec';

const OPS_DEF = join(__dirname, '..', '..', 'native', 'helper', 'ops.def');

interface COp {
  id: string;
  code: number;
  name: string;
  cls: string;
}

/** The OP(...) lines of ops.def; every non-comment, non-blank line must be one. */
function parseOpsDef(text: string): COp[] {
  const ops: COp[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('//')) continue;
    const m = /^OP\((\w+),\s*(\d+),\s*"([^"]+)",\s*(END|CONFIG|STEP),/.exec(line);
    assert.ok(m, `ops.def line ${i + 1} is not an OP(ID, code, "name", class, ...) entry: ${line}`);
    ops.push({ id: m[1], code: Number(m[2]), name: m[3], cls: m[4] });
  }
  return ops;
}

describe('the op table: ops.def and helper.ts', () => {
  const c = parseOpsDef(readFileSync(OPS_DEF, 'utf8'));

  it('reads every record of ops.def, with distinct codes and names', () => {
    assert.ok(c.length >= 29, `only ${c.length} records in ops.def`);
    assert.equal(new Set(c.map((o) => o.code)).size, c.length, 'a code is used twice');
    assert.equal(new Set(c.map((o) => o.name)).size, c.length, 'a name is used twice');
  });

  it('has the same names with the same codes on both sides', () => {
    const fromC = Object.fromEntries(c.map((o) => [o.name, o.code]));
    assert.deepEqual({ ...OP }, fromC);
  });

  it('puts the config records before the operations, as encodePlan writes them', () => {
    const config = c.filter((o) => o.cls === 'CONFIG').map((o) => o.code);
    const steps = c.filter((o) => o.cls === 'STEP').map((o) => o.code);
    assert.ok(Math.max(...config) < Math.min(...steps));
    assert.deepEqual(
      c.filter((o) => o.cls === 'END').map((o) => o.name),
      ['end'],
    );
  });

  it('encodes every operation of a plan with its ops.def code', () => {
    const process = { args: ['sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 }, terminal: { rows: 2, cols: 3 } };
    const launch: ContainerSpec = {
      id: 'c1',
      hostname: 'box',
      rootfs: { lowerDirs: ['/l'], upperDir: '/u', workDir: '/w', mountPoint: '/r/rootfs' },
      process,
    };
    const exec: ExecSpec = { pid: 7, process, cgroupProcs: ['/sys/fs/cgroup/x/cgroup.procs'] };
    const byName = new Map(c.map((o) => [o.name, o.code]));
    for (const plan of [buildLaunchPlan(launch), buildExecPlan(exec)]) {
      const codes = opCodes(encodePlan(plan));
      const expected = [...plan.ops.map((o: LaunchOp) => byName.get(o.op)), byName.get('end')];
      assert.deepEqual(codes.slice(codes.length - expected.length), expected);
      // Before them, the config records, each by its ops.def code.
      const config = new Set(c.filter((o) => o.cls === 'CONFIG').map((o) => o.code));
      for (const code of codes.slice(0, codes.length - expected.length)) assert.ok(config.has(code), `code ${code} is no config record`);
      assert.ok(codes.includes(byName.get(plan.join ? 'join' : 'namespaces')!));
    }
  });
});

/** The op codes of an encoded plan, in order. */
function opCodes(b: Buffer): number[] {
  const codes: number[] = [];
  let at = 8;
  while (at < b.length) {
    codes.push(b.readUInt32LE(at));
    const n = b.readUInt32LE(at + 4);
    at += 8;
    for (let i = 0; i < n; i++) at += 4 + b.readUInt32LE(at);
  }
  return codes;
}
