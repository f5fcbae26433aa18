/**
 * The agent's side of the monitor protocol (agent/runtime/monitor.ts): frames as the helper
 * writes them, the exit file, and what a damaged or hostile spill file turns into. The monitor
 * itself runs in test/integration/containers.test.ts (agent restarts).
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodePlan } from '../../agent/runtime/helper';
import { exitStatusOf, FrameDecoder, readLeftovers } from '../../agent/runtime/monitor';
import { makeTempDir } from '../support/tmp';

function frame(type: string, payload: string | Buffer): Buffer {
  const body = Buffer.from(payload);
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32LE(body.length, 1);
  return Buffer.concat([h, body]);
}

describe('monitor frames', () => {
  it('decodes output, lost counts and the exit, across arbitrary chunk boundaries', () => {
    const all = Buffer.concat([frame('O', 'out\n'), frame('E', 'err\n'), frame('L', '12'), frame('O', ''), frame('X', 'killed SIGKILL')]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      assert.deepEqual(frames, [
        { type: 'stdout', data: Buffer.from('out\n') },
        { type: 'stderr', data: Buffer.from('err\n') },
        { type: 'lost', bytes: 12 },
        { type: 'stdout', data: Buffer.alloc(0) },
        { type: 'exit', status: { code: 137, signal: 'SIGKILL' } },
      ]);
      assert.equal(d.pending, 0);
    }
  });

  it('refuses unknown types, oversized lengths and bad exit or lost payloads', () => {
    const bad: [Buffer, RegExp][] = [
      [frame('Q', 'x'), /unknown type/],
      [Buffer.from([0x4f, 0xff, 0xff, 0xff, 0x7f]), /at most 65536/],
      [frame('X', 'exited 3; rm -rf /'), /exit frame/],
      [frame('L', '-5'), /frame L/],
    ];
    for (const [b, re] of bad) assert.throws(() => new FrameDecoder().push(b), re);
  });

  it('reads status lines as the helper writes them, and nothing else', () => {
    assert.deepEqual(exitStatusOf('exited 0'), { code: 0 });
    assert.deepEqual(exitStatusOf('exited 255\n'), { code: 255 });
    assert.deepEqual(exitStatusOf('killed SIGTERM'), { code: 143, signal: 'SIGTERM' });
    for (const l of ['exited', 'exited -1', 'exited 1000', 'killed TERM', 'started 5', '']) assert.equal(exitStatusOf(l), undefined, l);
  });
});

describe('monitor leftovers', () => {
  it('turns a spill file and an exit file into output and an exit, then removes them', async () => {
    const dir = await makeTempDir('berth-monitor-');
    writeFileSync(join(dir, 'spill'), Buffer.concat([frame('O', 'a\n'), frame('E', 'b\n'), frame('L', '7')]));
    writeFileSync(join(dir, 'exit'), 'exited 4');
    const left = readLeftovers(dir);
    assert.deepEqual(
      left.output.map((o) => [o.stream, o.data.toString()]),
      [
        ['stdout', 'a\n'],
        ['stderr', 'b\n'],
        ['stderr', '[berth: 7 bytes of output were lost while the agent was away]\n'],
      ],
    );
    assert.deepEqual(left.exit, { code: 4 });
    assert.ok(!existsSync(join(dir, 'spill')) && !existsSync(join(dir, 'exit')));
  });

  it('reports a damaged spill file in the output instead of failing, and no exit without the file', async () => {
    const dir = await makeTempDir('berth-monitor-');
    writeFileSync(join(dir, 'spill'), Buffer.concat([frame('O', 'kept\n'), Buffer.from('garbage!')]));
    const left = readLeftovers(dir);
    assert.equal(left.exit, undefined);
    assert.equal(left.output.length, 2);
    assert.equal(left.output[0].data.toString(), 'kept\n', 'the good frames before the damage are kept');
    assert.match(left.output[1].data.toString(), /damaged: monitor frame of \d+ bytes/);
  });
});

describe('monitor plan record', () => {
  it('is record 8 with the directory and the stdin flag', () => {
    const b = encodePlan({
      namespaces: ['mount'],
      cgroupProcs: [],
      monitor: { dir: '/s/c', stdin: true },
      ops: [{ op: 'exec', path: 'true', args: ['true'], env: [] }],
    });
    const rec = Buffer.concat([
      Buffer.from([8, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0]),
      Buffer.from('/s/c'),
      Buffer.from([1, 0, 0, 0]),
      Buffer.from('1'),
    ]);
    assert.ok(b.includes(rec));
  });
});
