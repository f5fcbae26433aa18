/** Build Image... in the extension: the tag it proposes and the log lines it writes per build event. */
import './extension-fake-vscode';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultTag, describeEvent } from '../../extension/commands/images/buildImage';

describe('Build Image command', () => {
  it('proposes the folder name as a valid tag', () => {
    assert.equal(defaultTag('/home/me/src/My App'), 'my-app:latest');
    assert.equal(defaultTag('/srv/api.v2'), 'api.v2:latest');
    assert.equal(defaultTag('/srv/__x'), 'x:latest');
    assert.equal(defaultTag('/srv/###'), 'image:latest');
  });

  it("writes Docker's step lines, the cache hits and the step results; output is written as it comes", () => {
    assert.equal(describeEvent({ type: 'step', step: 2, total: 7, stage: 0, line: 3, instruction: 'RUN make' }), 'Step 2/7 : RUN make\n');
    assert.equal(describeEvent({ type: 'cached', step: 2 }), ' ---> Using cache\n');
    assert.equal(describeEvent({ type: 'result', step: 2, id: 'sha256:3f2a9c1b7e4d00112233' }), ' ---> 3f2a9c1b7e4d\n');
    assert.equal(describeEvent({ type: 'output', step: 2, stream: 'stdout', data: 'aGk=' }), undefined);
  });
});
