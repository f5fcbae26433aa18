/**
 * `berth build`'s printing (cli/commands/build.ts): the classic `docker build` lines from the
 * agent's build events, RUN output passed through as it comes, warnings on stderr; and
 * `--build-arg` parsing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BuildPrinter, parseBuildArgs } from '../../cli/commands/build';
import { UsageError } from '../../cli/args';

const ID = (c: string) => `sha256:${c.repeat(64)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('berth build output', () => {
  it("prints docker build's classic lines", () => {
    let out = '';
    let err = '';
    const p = new BuildPrinter({ stdout: (s) => (out += s), stderr: (s) => (err += s) });
    p.event({ type: 'warning', message: 'the "syntax" directive is ignored' });
    p.event({ type: 'step', step: 1, total: 3, stage: 0, line: 1, instruction: 'FROM busybox' });
    p.event({ type: 'result', step: 1, id: ID('a') });
    p.event({ type: 'step', step: 2, total: 3, stage: 0, line: 2, instruction: 'RUN echo hi; printf partial' });
    p.event({ type: 'running', step: 2, container: 'c'.repeat(64) });
    p.event({ type: 'output', step: 2, stream: 'stdout', data: b64('hi\n') });
    p.event({ type: 'output', step: 2, stream: 'stderr', data: b64('partial') });
    p.event({ type: 'removed', step: 2, container: 'c'.repeat(64) });
    p.event({ type: 'result', step: 2, id: ID('b') });
    p.event({ type: 'step', step: 3, total: 3, stage: 0, line: 3, instruction: 'CMD ["sh"]' });
    p.event({ type: 'cached', step: 3 });
    p.event({ type: 'result', step: 3, id: ID('d') });
    p.done({ Id: ID('d'), tags: ['demo:1', 'demo:latest'], steps: [], warnings: [] });
    assert.equal(
      out,
      [
        'Step 1/3 : FROM busybox',
        ' ---> aaaaaaaaaaaa',
        'Step 2/3 : RUN echo hi; printf partial',
        ' ---> Running in cccccccccccc',
        'hi',
        'partial',
        'Removing intermediate container cccccccccccc',
        ' ---> bbbbbbbbbbbb',
        'Step 3/3 : CMD ["sh"]',
        ' ---> Using cache',
        ' ---> dddddddddddd',
        'Successfully built dddddddddddd',
        'Successfully tagged demo:1',
        'Successfully tagged demo:latest',
        '',
      ].join('\n'),
    );
    assert.equal(err, '[Warning] the "syntax" directive is ignored\n');
  });

  it('--build-arg NAME=VALUE, NAME from the environment, bad names refused', () => {
    assert.deepEqual(parseBuildArgs(['A=1', 'B=x=y', 'C=', 'FROM_ENV', 'UNSET_HERE'], { FROM_ENV: 'e' }), {
      A: '1',
      B: 'x=y',
      C: '',
      FROM_ENV: 'e',
    });
    assert.throws(() => parseBuildArgs(['1A=x'], {}), UsageError);
    assert.throws(() => parseBuildArgs(['=x'], {}), /invalid --build-arg "=x"/);
  });
});
