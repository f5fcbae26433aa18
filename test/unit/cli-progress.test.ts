import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerProgress } from '../../protocol';
import { layerLine, progressBar, PullProgressRenderer } from '../../cli/progress';

const A = 'sha256:a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2';
const B = 'sha256:0011223344556677889900112233445566778899001122334455667788990011';
const lp = (digest: string, phase: LayerProgress['phase'], current = 0, total = 52_100_000, message?: string): LayerProgress => ({
  digest,
  phase,
  current,
  total,
  message,
});

test('progress bar and layer line', () => {
  assert.equal(progressBar(0, 100, 10), '[          ]');
  assert.equal(progressBar(50, 100, 10), '[====>     ]');
  assert.equal(progressBar(100, 100, 10), '[==========]');
  assert.equal(
    layerLine(lp(A, 'downloading', 12_300_000)),
    `a1b2c3d4e5f6: Downloading ${progressBar(12_300_000, 52_100_000)} 12.3MB/52.1MB`,
  );
  assert.equal(layerLine(lp(A, 'exists')), 'a1b2c3d4e5f6: Already exists');
  assert.equal(layerLine(lp(A, 'done')), 'a1b2c3d4e5f6: Pull complete');
  // Kept narrower than the terminal.
  assert.ok(layerLine(lp(A, 'downloading', 1, 2), 60).length < 60);
  assert.ok(layerLine(lp(A, 'downloading', 1, 2), 30).length < 30);
});

test('non-TTY: one line per layer phase change, none for byte updates', () => {
  const out: string[] = [];
  const r = new PullProgressRenderer({ write: (s) => out.push(s), isTTY: false });
  r.update(lp(A, 'waiting'));
  r.update(lp(B, 'exists'));
  r.update(lp(A, 'downloading', 1000));
  r.update(lp(A, 'downloading', 2_000_000));
  r.update(lp(A, 'downloading', 30_000_000));
  r.update(lp(A, 'retrying', 30_000_000, 52_100_000, 'connection reset'));
  r.update(lp(A, 'downloading', 31_000_000));
  r.update(lp(A, 'finishing', 52_100_000));
  r.update(lp(A, 'done', 52_100_000));
  r.update(lp(A, 'done', 52_100_000));
  r.finish();
  r.update(lp(B, 'done'));
  assert.deepEqual(out.join('').split('\n').slice(0, -1), [
    'a1b2c3d4e5f6: Waiting',
    '001122334455: Already exists',
    'a1b2c3d4e5f6: Downloading 1kB/52.1MB',
    'a1b2c3d4e5f6: Retrying (connection reset) 30MB/52.1MB',
    'a1b2c3d4e5f6: Downloading 31MB/52.1MB',
    'a1b2c3d4e5f6: Finishing',
    'a1b2c3d4e5f6: Pull complete',
  ]);
  for (const line of out) assert.ok(!line.includes('\x1b'), 'no escape codes off a terminal');
});

test('TTY: redraws in place with cursor-up, throttled', async () => {
  const out: string[] = [];
  const r = new PullProgressRenderer({ write: (s) => out.push(s), isTTY: true, intervalMs: 50 });
  r.update(lp(A, 'downloading', 1_000_000));
  assert.equal(out.length, 1, 'first update draws at once');
  assert.equal(out[0], `\x1b[2K${layerLine(lp(A, 'downloading', 1_000_000))}\n`);
  r.update(lp(B, 'waiting'));
  r.update(lp(A, 'downloading', 2_000_000));
  assert.equal(out.length, 1, 'updates within the interval wait');
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(out.length, 2, 'one redraw after the interval');
  assert.ok(out[1]!.startsWith('\x1b[1A'), 'moves up over the one line drawn before');
  assert.match(out[1]!, /a1b2c3d4e5f6: Downloading .* 2MB\/52\.1MB\n\x1b\[2K001122334455: Waiting\n$/);
  r.update(lp(A, 'done'));
  r.finish();
  assert.ok(out[out.length - 1]!.startsWith('\x1b[2A'));
  assert.match(out[out.length - 1]!, /a1b2c3d4e5f6: Pull complete/);
});
