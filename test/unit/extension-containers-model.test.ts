/**
 * The plain parts of the Containers side: the tree model (grouping, ordering), the status words
 * (the same as `berth ps`), and the answers of "Run Image..." turned into create params.
 */
import './extension-fake-vscode';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusText as cliStatusText } from '../../protocol';
import { createParams, parseEnv, splitCommand, checkBind, checkName } from '../../extension/commands/images/runOptions';
import { statusText } from '../../extension/tree/containers/ContainerTreeItem';
import { buildContainerTree, containerLeaves, imageLabel } from '../../extension/tree/containers/model';
import { fakeContainer, NEVER } from '../support/fakeAgent';

const T = Date.parse('2025-01-01T12:00:00Z');
const at = (secondsBefore: number) => new Date(T - secondsBefore * 1000).toISOString();
const created = (secondsBefore: number) => Math.floor(T / 1000) - secondsBefore;

const list = [
  fakeContainer('a'.repeat(64), 'old-exit', 'docker.io/library/busybox:latest', 'exited', {
    Created: created(900),
    StartedAt: at(890),
    FinishedAt: at(120),
    ExitCode: 3,
  }),
  fakeContainer('b'.repeat(64), 'web', '127.0.0.1:5000/e2e/box:v1', 'running', { Created: created(500), StartedAt: at(180) }),
  fakeContainer('c'.repeat(64), 'fresh', 'busybox', 'created', { Created: created(10), StartedAt: NEVER }),
  fakeContainer('d'.repeat(64), 'db', 'docker.io/library/busybox:latest', 'running', { Created: created(100), StartedAt: at(3) }),
  fakeContainer('e'.repeat(64), 'new-exit', '127.0.0.1:5000/e2e/box:v1', 'exited', {
    Created: created(50),
    StartedAt: at(40),
    FinishedAt: at(30),
    ExitCode: 0,
  }),
];

describe('Containers tree model', () => {
  it('groups by state: Running, then Exited, then Created; newest first inside a group', () => {
    const roots = buildContainerTree(list, 'state');
    assert.deepEqual(
      roots.map((g) => [g.key, g.containers.map((c) => c.name)]),
      [
        ['running', ['db', 'web']],
        ['exited', ['new-exit', 'old-exit']],
        ['created', ['fresh']],
      ],
    );
    assert.equal(roots[0]!.id, 'group:state:running');
    assert.equal(roots[0]!.containers[0]!.id, `container:${'d'.repeat(64)}`);
    assert.equal(roots[0]!.containers[0]!.reference, 'd'.repeat(64));
  });

  it('groups by image (as people write it): images with running containers first, running first inside', () => {
    const roots = buildContainerTree(list, 'image');
    assert.deepEqual(
      roots.map((g) => [g.key, g.containers.map((c) => c.name)]),
      [
        ['127.0.0.1:5000/e2e/box:v1', ['web', 'new-exit']],
        ['busybox:latest', ['db', 'old-exit']],
        ['busybox', ['fresh']],
      ],
    );
    assert.deepEqual(
      containerLeaves(roots).map((c) => c.name),
      ['web', 'new-exit', 'db', 'old-exit', 'fresh'],
    );
  });

  it('is empty without containers and names unnamed ones by short ID', () => {
    assert.deepEqual(buildContainerTree([], 'state'), []);
    const [g] = buildContainerTree([{ ...list[0]!, Names: [] }], 'state');
    assert.equal(g!.containers[0]!.name, 'aaaaaaaaaaaa');
    assert.equal(imageLabel({ Image: 'sha256:' + 'f'.repeat(64), ImageID: '' }), 'ffffffffffff');
  });

  it('words status as `berth ps` does: Up 3 minutes, Exited (3) 2 minutes ago, Created', () => {
    const byName = Object.fromEntries(list.map((c) => [c.Names[0]!.slice(1), c]));
    assert.equal(statusText(byName.web!, T), 'Up 3 minutes');
    assert.equal(statusText(byName.db!, T), 'Up 3 seconds');
    assert.equal(statusText(byName['old-exit']!, T), 'Exited (3) 2 minutes ago');
    assert.equal(statusText(byName.fresh!, T), 'Created');
    assert.equal(statusText({ ...byName['old-exit']!, ExitCode: 137, OOMKilled: true }, T), 'Exited (137, out of memory) 2 minutes ago');
    // The same words as the CLI's for every step of Docker's duration scale.
    for (const s of [0, 1, 2, 59, 60, 119, 120, 3599, 3600, 5400, 7200, 47 * 3600, 3 * 86400, 20 * 86400, 90 * 86400, 800 * 86400]) {
      for (const c of [
        { ...byName.web!, StartedAt: at(s) },
        { ...byName['old-exit']!, FinishedAt: at(s) },
      ]) {
        assert.equal(statusText(c, T), cliStatusText(c, T), `${c.State} ${s} s`);
      }
    }
  });
});

describe('Run Image answers', () => {
  it('turns the answers into create params, leaving out what was skipped', () => {
    assert.deepEqual(createParams('busybox', { name: '', env: '', bind: '', command: '' }), { image: 'busybox' });
    assert.deepEqual(
      createParams('busybox', {
        name: ' web ',
        env: 'A=1, B=two words,,C=',
        bind: '/srv:/data:ro',
        command: `sh -c 'echo "hi there"; exit 3'`,
      }),
      {
        image: 'busybox',
        name: 'web',
        env: ['A=1', 'B=two words', 'C='],
        binds: ['/srv:/data:ro'],
        cmd: ['sh', '-c', 'echo "hi there"; exit 3'],
      },
    );
  });

  it('finds the problems the input boxes show', () => {
    assert.equal(checkName('web-1.a_b'), undefined);
    assert.equal(checkName('-web'), 'badName');
    assert.equal(checkName('w'), 'badName');
    assert.equal(parseEnv('A=1, nope'), 'badEnv');
    assert.equal(parseEnv('=1'), 'badEnv');
    assert.equal(checkBind('/a:/b'), undefined);
    assert.equal(checkBind('/a:/b:rw'), undefined);
    assert.equal(checkBind('a:/b'), 'badBind');
    assert.equal(checkBind('/a:/b:rx'), 'badBind');
    assert.equal(checkBind('/a'), 'badBind');
    assert.deepEqual(splitCommand(`echo a\\ b "c d" ''`), ['echo', 'a b', 'c d', '']);
    assert.equal(splitCommand(`echo 'open`), 'unbalancedQuote');
  });
});
