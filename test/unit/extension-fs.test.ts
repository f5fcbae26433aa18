/**
 * Browse Files in the extension against the fake agent on a real socket: the read-only file
 * system provider (types, symlink bits, contents, the agent's errors as FileSystemErrors, writes
 * refused), the URIs, the quick-pick file browser (folders, "..", opening a file, adding the root
 * as a workspace folder) and Compare with Image (vscode.diff between the image's and the
 * container's file; a file the container added is said to be new).
 */
import { commands, FileSystemError, FileType, Uri, window, workspace } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AgentConnection } from '../../client/connection';
import { compareWithImage } from '../../extension/commands/containers/compareWithImage';
import type { Context } from '../../extension/context';
import { BerthFileSystemProvider } from '../../extension/fs/BerthFileSystemProvider';
import { browseFiles } from '../../extension/fs/fileBrowser';
import { containerUri, imageUri, targetOf } from '../../extension/fs/uris';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const ID = 'a'.repeat(64);
const IMAGE_HEX = 'ab'.repeat(32);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  window.picks = [];
  window.offered = [];
  window.shown = [];
  commands.executed = [];
  workspace.added = [];
});

async function setup(connect = true) {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  agent.containers = [fakeContainer(ID, 'web', 'busybox', 'exited')];
  agent.files.set(`container:${ID}`, {
    '/': { type: 'dir' },
    '/etc': { type: 'dir' },
    '/etc/hosts': { type: 'file', content: '127.0.0.1\tlocalhost\n' },
    '/etc/passwd': { type: 'file', content: 'root:x:0:0::/root:/bin/sh\nextra:x:5:5::/:/bin/sh\n' },
    '/new': { type: 'file', content: 'added by the container\n' },
    '/etc-link': { type: 'symlink', target: '/etc' },
    '/dangling': { type: 'symlink', target: '/nowhere' },
    '/fifo': { type: 'other' },
  });
  agent.files.set(`image:sha256:${IMAGE_HEX}`, {
    '/': { type: 'dir' },
    '/etc': { type: 'dir' },
    '/etc/passwd': { type: 'file', content: 'root:x:0:0::/root:/bin/sh\n' },
  });
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  if (connect) {
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
  }
  const errors: unknown[] = [];
  const ctx = { agent: conn, reportError: (e: unknown) => errors.push(e) } as unknown as Context;
  const provider = new BerthFileSystemProvider(conn);
  cleanups.push(() => provider.dispose());
  return { agent, conn, ctx, provider, errors };
}

async function fsError(p: Promise<unknown> | (() => unknown), code: string): Promise<FileSystemError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(e instanceof FileSystemError, `a FileSystemError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected FileSystemError ${code}`);
}

describe('Browse Files: URIs', () => {
  it('name containers and images by full ID and give the agent their target and path', () => {
    const c = containerUri(ID, '/etc/hosts');
    assert.equal(c.toString(), `berth-container://${ID}/etc/hosts`);
    assert.deepEqual(targetOf(c as never), { target: { container: ID }, path: '/etc/hosts' });
    const i = imageUri(`sha256:${IMAGE_HEX}`, '/etc/passwd/');
    assert.equal(i.toString(), `berth-image://${IMAGE_HEX}/etc/passwd`);
    assert.deepEqual(targetOf(i as never), { target: { image: `sha256:${IMAGE_HEX}` }, path: '/etc/passwd' });
    assert.equal(targetOf(Uri.parse('berth-container://web/etc') as never), undefined, 'a name is not an authority');
    assert.equal(targetOf(Uri.parse(`file://${ID}/etc`) as never), undefined);
  });
});

describe('Browse Files: the file system provider', () => {
  it('stats, lists and reads through the agent, with symlink bits and read-only permissions', async () => {
    const { provider } = await setup();
    const root = containerUri(ID) as never;
    const entries = await provider.readDirectory(root);
    assert.deepEqual(entries, [
      ['dangling', FileType.Unknown | FileType.SymbolicLink],
      ['etc', FileType.Directory],
      ['etc-link', FileType.Directory | FileType.SymbolicLink],
      ['fifo', FileType.Unknown],
      ['new', FileType.File],
    ]);
    const st = await provider.stat(containerUri(ID, '/etc/hosts') as never);
    assert.equal(st.type, FileType.File);
    assert.equal(st.size, '127.0.0.1\tlocalhost\n'.length);
    assert.equal(st.mtime, 1_700_000_000_000);
    assert.equal(st.permissions, 1, 'FilePermission.Readonly');
    assert.equal((await provider.stat(containerUri(ID, '/etc-link') as never)).type, FileType.Directory | FileType.SymbolicLink);
    assert.equal(Buffer.from(await provider.readFile(containerUri(ID, '/etc-link/hosts') as never)).toString(), '127.0.0.1\tlocalhost\n');
    assert.equal(
      Buffer.from(await provider.readFile(imageUri(IMAGE_HEX, '/etc/passwd') as never)).toString(),
      'root:x:0:0::/root:/bin/sh\n',
    );
  });

  it("turns the agent's errors into FileSystemErrors, and refuses every write", async () => {
    const { provider, agent } = await setup();
    await fsError(provider.readFile(containerUri(ID, '/missing') as never), 'FileNotFound');
    await fsError(provider.readFile(containerUri(ID, '/etc') as never), 'FileIsADirectory');
    await fsError(provider.readDirectory(containerUri(ID, '/new') as never), 'FileNotADirectory');
    const unreadable = await fsError(provider.readFile(containerUri(ID, '/fifo') as never), 'Unavailable');
    assert.match(unreadable.message, /EINVAL/);
    const gone = await fsError(provider.stat(containerUri('b'.repeat(64), '/') as never), 'FileNotFound');
    assert.match(gone.message, /no such container/);
    const calls = agent.fsCalls.length;
    await fsError(provider.stat(Uri.parse('berth-container://web/etc') as never), 'FileNotFound');
    assert.equal(agent.fsCalls.length, calls, 'a URI without an ID is not sent to the agent');
    for (const write of [
      () => provider.writeFile(containerUri(ID, '/new') as never),
      () => provider.delete(containerUri(ID, '/new') as never),
      () => provider.rename(containerUri(ID, '/new') as never),
      () => provider.createDirectory(containerUri(ID, '/d') as never),
    ]) {
      const e = await fsError(write, 'NoPermissions');
      assert.match(e.message, /read-only/);
    }
  });

  it('is Unavailable, with a sentence, while the agent is not connected', async () => {
    const { provider } = await setup(false);
    const e = await fsError(provider.stat(containerUri(ID, '/etc') as never), 'Unavailable');
    assert.match(e.message, /The Berth agent is not connected/);
  });
});

describe('Browse Files: the quick-pick browser and Compare with Image', () => {
  const pick = (label: string) => (items: { label: string }[]) => {
    const it = items.find((i) => i.label.endsWith(` ${label}`));
    assert.ok(it, `"${label}" offered among ${items.map((i) => i.label).join(', ')}`);
    return it;
  };

  it('goes into folders (and links to folders), up with "..", and opens the file picked', async () => {
    const { ctx, errors } = await setup();
    window.picks = [pick('etc-link'), pick('..'), pick('etc'), pick('hosts')];
    const opened = await browseFiles(ctx, containerUri(ID) as never, 'Files of web');
    assert.deepEqual(errors, []);
    assert.equal(opened?.toString(), `berth-container://${ID}/etc/hosts`);
    assert.deepEqual(
      window.offered.map((o) => o.title),
      ['Files of web: /', 'Files of web: /etc-link', 'Files of web: /', 'Files of web: /etc'],
    );
    // Folders first, then files; the root offers the workspace, a folder "..".
    assert.deepEqual(window.offered[0]!.labels, [
      '$(root-folder) Add to Workspace as a Folder',
      '$(folder) etc',
      '$(file-symlink-directory) etc-link',
      '$(circle-slash) dangling',
      '$(circle-slash) fifo',
      '$(file) new',
    ]);
    assert.deepEqual(window.offered[3]!.labels, ['$(arrow-up) ..', '$(file) hosts', '$(file) passwd']);
    assert.equal(commands.executed.length, 1);
    assert.equal(commands.executed[0]!.id, 'vscode.open');
    assert.equal(String(commands.executed[0]!.args[0]), `berth-container://${ID}/etc/hosts`);
  });

  it('adds the root as a workspace folder when asked, and reports an unreadable root', async () => {
    const { ctx, errors } = await setup();
    window.picks = [pick('Folder')];
    await browseFiles(ctx, imageUri(IMAGE_HEX) as never, 'Files of busybox');
    assert.deepEqual(
      workspace.added.map((f) => [String(f.uri), f.name]),
      [[`berth-image://${IMAGE_HEX}/`, 'Files of busybox']],
    );
    assert.ok(commands.executed.some((c) => c.id === 'workbench.view.explorer'));
    assert.equal(await browseFiles(ctx, containerUri('c'.repeat(64)) as never, 'Files of gone'), undefined);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as FileSystemError).code, 'FileNotFound');
  });

  it("Compare with Image opens vscode.diff from the image's file to the container's; an added file is said to be new", async () => {
    const { ctx, errors } = await setup();
    await compareWithImage(ctx)(containerUri(ID, '/etc/passwd'));
    assert.deepEqual(errors, []);
    const diff = commands.executed.find((c) => c.id === 'vscode.diff');
    assert.ok(diff, 'vscode.diff was run');
    assert.deepEqual(diff.args.slice(0, 3).map(String), [
      `berth-image://${IMAGE_HEX}/etc/passwd`,
      `berth-container://${ID}/etc/passwd`,
      'passwd (image ↔ web)',
    ]);
    commands.executed = [];
    await compareWithImage(ctx)(containerUri(ID, '/new'));
    assert.deepEqual(window.shown, ['/new is not in the image of web: the container added it.']);
    assert.deepEqual(
      commands.executed.map((c) => c.id),
      ['vscode.open'],
    );
    window.shown = [];
    await compareWithImage(ctx)(imageUri(IMAGE_HEX, '/etc/passwd'));
    assert.deepEqual(window.shown, ['Open a file of a container first (Browse Files on a container).']);
  });
});
