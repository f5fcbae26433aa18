/** The agent's guard in front of its JSON-RPC reader (agent/server/frameGuard.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameGuard } from '../../agent/server/frameGuard';

function frame(body: string): Buffer {
  return Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** Feeds `chunks` to a guard; what came out, or the error it stopped with. */
function run(chunks: Buffer[], max?: number): Promise<{ out: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const g = new FrameGuard(max);
    const out: Buffer[] = [];
    g.on('data', (d: Buffer) => out.push(d));
    g.on('error', (e) => resolve({ out: Buffer.concat(out), error: e.message }));
    g.on('end', () => resolve({ out: Buffer.concat(out) }));
    for (const c of chunks) g.write(c);
    g.end();
  });
}

describe('frame guard', () => {
  it('passes well-framed messages through unchanged, however they are split', async () => {
    const all = Buffer.concat([frame('{"a":1}'), frame('{"jsonrpc":"2.0","id":2,"method":"x"}'), frame('')]);
    for (let cut = 0; cut <= all.length; cut++) {
      for (const size of [1, 3, all.length]) {
        const pieces: Buffer[] = [];
        for (let at = 0; at < cut; at += size) pieces.push(all.subarray(at, Math.min(at + size, cut)));
        pieces.push(all.subarray(cut));
        const r = await run(pieces);
        assert.equal(r.error, undefined);
        assert.deepEqual(r.out, all);
      }
    }
  });

  it('stops a body over the limit before it arrives, a missing or malformed length, and an endless header', async () => {
    assert.match((await run([Buffer.from('Content-Length: 1000\r\n\r\n')], 999)).error!, /a message of 1000 bytes \(at most 999\)/);
    assert.match((await run([Buffer.from('Content-Type: x\r\n\r\n{}')])).error!, /without a valid Content-Length/);
    assert.match((await run([Buffer.from('Content-Length: -5\r\n\r\n')])).error!, /without a valid Content-Length/);
    assert.match((await run([Buffer.from('Content-Length: 99999999999999999999\r\n\r\n')])).error!, /without a valid Content-Length/);
    assert.match((await run([Buffer.alloc(9000, 0x61)])).error!, /header of more than 8192 bytes/);
    // The limit applies per message: a good one first, then the oversized one.
    const r = await run([frame('{}'), Buffer.from('Content-Length: 50\r\n\r\n')], 10);
    assert.match(r.error!, /50 bytes/);
  });
});
