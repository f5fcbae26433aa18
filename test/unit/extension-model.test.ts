/** The plain parts of the extension: the Images tree model, ages, pull progress, error sentences. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { ErrorCode, type ImageSummary } from '../../protocol';
import { classify, detailLine, isAgentError, sentence } from '../../client/errors';
import { NotConnectedError } from '../../client/connection';
import { PullProgressTracker } from '../../extension/commands/images/pullProgress';
import { age, buildImageTree, childrenOf, leaves } from '../../extension/tree/images/model';

const image = (id: string, tags: string[], created = 1_700_000_000): ImageSummary => ({
  Id: `sha256:${id.padEnd(64, '0')}`,
  RepoTags: tags,
  RepoDigests: [],
  Created: created,
  Size: 1_000_000,
  Layers: 2,
  Labels: {},
});

describe('Images tree model', () => {
  it('groups tags under repositories by familiar name, sorted, and untagged images under <none>', () => {
    const roots = buildImageTree([
      image('a', ['docker.io/library/busybox:latest', 'docker.io/library/busybox:1.36']),
      image('b', ['127.0.0.1:5000/team/app:v1']),
      image('c', [], 1_700_000_100),
      image('d', [], 1_700_000_200),
      image('e', ['docker.io/team/tool:2']),
    ]);
    assert.deepEqual(
      roots.map((r) => (r.kind === 'repository' ? r.label : r.kind)),
      ['127.0.0.1:5000/team/app', 'busybox', 'team/tool', 'danglingGroup'],
    );
    const busybox = roots[1]!;
    assert.equal(busybox.kind, 'repository');
    assert.deepEqual(
      childrenOf(busybox).map((t) => (t.kind === 'tag' ? [t.tag, t.reference] : [])),
      [
        ['1.36', 'docker.io/library/busybox:1.36'],
        ['latest', 'docker.io/library/busybox:latest'],
      ],
    );
    const dangling = roots[3]!;
    assert.equal(dangling.kind, 'danglingGroup');
    // Newest first; their reference is the ID.
    assert.deepEqual(
      childrenOf(dangling).map((d) => (d.kind === 'dangling' ? d.reference : '')),
      [image('d', []).Id, image('c', []).Id],
    );
    assert.equal(leaves(roots).length, 6, 'one leaf per tag plus one per untagged image');
  });

  it('gives stable, unique ids so expansion survives refreshes', () => {
    const build = () => buildImageTree([image('a', ['docker.io/library/busybox:latest']), image('c', [])]);
    const ids = (r: ReturnType<typeof build>) => [...r.map((n) => n.id), ...leaves(r).map((l) => l.id)];
    assert.deepEqual(ids(build()), ids(build()));
    assert.equal(new Set(ids(build())).size, ids(build()).length);
  });

  it('has no <none> group when every image is tagged, and nothing for an empty store', () => {
    assert.deepEqual(buildImageTree([]), []);
    assert.ok(buildImageTree([image('a', ['x.io/a:1'])]).every((r) => r.kind === 'repository'));
  });

  it('measures ages in the largest unit that fits', () => {
    const now = 1_700_000_000_000;
    assert.equal(age(0, now), undefined);
    assert.deepEqual(age(1_700_000_000 - 30, now), { count: 30, unit: 'seconds' });
    assert.deepEqual(age(1_700_000_000 - 120, now), { count: 2, unit: 'minutes' });
    assert.deepEqual(age(1_700_000_000 - 3 * 86400, now), { count: 3, unit: 'days' });
    assert.deepEqual(age(1_700_000_000 - 400 * 86400, now), { count: 1, unit: 'years' });
  });
});

describe('pull progress', () => {
  it('folds per-layer progress into one percentage, counting layers already stored as done', () => {
    const t = new PullProgressTracker();
    t.update({ digest: 'a', phase: 'exists', current: 0, total: 500 });
    t.update({ digest: 'b', phase: 'downloading', current: 250, total: 1000 });
    t.update({ digest: 'c', phase: 'waiting', current: 0, total: 1000 });
    let s = t.summary();
    assert.deepEqual([s.layers, s.doneLayers, s.downloading, s.current, s.total, s.percent], [3, 1, 1, 250, 2000, 12.5]);
    assert.equal(t.increment(), 12.5);
    t.update({ digest: 'b', phase: 'retrying', current: 250, total: 1000, message: 'connection reset' });
    assert.equal(t.summary().retrying, 'connection reset');
    assert.equal(t.increment(), 0, 'no progress, no increment');
    t.update({ digest: 'b', phase: 'done', current: 1000, total: 1000 });
    t.update({ digest: 'c', phase: 'finishing', current: 1000, total: 1000 });
    s = t.summary();
    assert.equal(s.percent, 100);
    assert.equal(t.increment(), 87.5, 'increments add up to 100');
  });

  it('is complete when every layer already existed', () => {
    const t = new PullProgressTracker();
    t.update({ digest: 'a', phase: 'exists', current: 0, total: 500 });
    assert.equal(t.summary().percent, 100);
  });
});

describe('errors for the user', () => {
  it("shows the agent's sentence and keeps code and data for the log", () => {
    const f = classify(
      new ResponseError(ErrorCode.NotFound, 'inspect nope: no such image', {
        operation: 'inspect',
        reference: 'docker.io/library/nope:latest',
      }),
    );
    assert.equal(f.kind, 'agent');
    assert.equal(f.message, 'Inspect nope: no such image.');
    assert.equal(detailLine(f), 'NotFound (1002) {"operation":"inspect","reference":"docker.io/library/nope:latest"}');
  });

  it('tells cancellation and missing connections apart from failures', () => {
    assert.equal(classify(new ResponseError(ErrorCode.Cancelled, 'pull x: cancelled')).kind, 'cancelled');
    assert.equal(classify(new NotConnectedError({ kind: 'idle' })).kind, 'notConnected');
    assert.equal(classify(new Error('boom')).kind, 'other');
  });

  it("tells the agent's answers (by code) from everything else", () => {
    const notFound = new ResponseError(ErrorCode.NotFound, 'inspect nope: no such image');
    assert.equal(isAgentError(notFound), true);
    assert.equal(isAgentError(notFound, ErrorCode.NotFound), true);
    assert.equal(isAgentError(notFound, ErrorCode.Conflict, ErrorCode.NotFound), true);
    assert.equal(isAgentError(notFound, ErrorCode.Conflict), false);
    assert.equal(isAgentError(new NotConnectedError({ kind: 'idle' })), false);
    assert.equal(isAgentError(Object.assign(new Error('x'), { code: ErrorCode.NotFound }), ErrorCode.NotFound), false);
  });

  it('makes sentences', () => {
    assert.equal(sentence('pull x: registry answered 401'), 'Pull x: registry answered 401.');
    assert.equal(sentence('Done!'), 'Done!');
    assert.equal(sentence(''), '');
  });
});
