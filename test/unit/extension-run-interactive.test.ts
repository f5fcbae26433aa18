/**
 * Run Interactive against the fake agent: the two questions (command, --rm, remembered per
 * image), the create params (tty, stdin kept open and closed with the client, autoRemove), the
 * terminal attached over the stream (wait sent first, start with stream and the terminal's size,
 * keystrokes in, output out, resizes), the exit closing the terminal with its code and --rm
 * removing the container, and closing the terminal stopping a container that still runs.
 */
import { window } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ImageSummary } from '../../protocol';
import { AgentConnection } from '../../client/connection';
import { RUN_INTERACTIVE_ANSWERS_KEY, runInteractive, RunPseudoterminal } from '../../extension/commands/images/runInteractive';
import type { Context } from '../../extension/context';
import type { ImageLeaf } from '../../extension/tree/images/model';
import { FakeAgent, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  window.terminals = [];
  window.shown = [];
  window.inputs = [];
  window.picks = [];
  window.offered = [];
});

const IMAGE: ImageSummary = {
  Id: `sha256:${'ab'.repeat(32)}`,
  RepoTags: ['docker.io/library/busybox:latest'],
  RepoDigests: [],
  Created: 0,
  Size: 1,
  Layers: 1,
  Labels: {},
};
const LEAF: ImageLeaf = {
  kind: 'tag',
  id: 'tag:busybox',
  repository: 'docker.io/library/busybox',
  tag: 'latest',
  reference: 'docker.io/library/busybox:latest',
  image: IMAGE,
};

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  conn.start();
  await until('connected', () => conn.state.kind === 'connected');
  const state = new Map<string, unknown>();
  const globalState = {
    get: (k: string, d?: unknown) => (state.has(k) ? state.get(k) : d),
    update: async (k: string, v: unknown) => void state.set(k, v),
  };
  const errors: unknown[] = [];
  const ctx = { agent: conn, extension: { globalState }, reportError: (e: unknown) => errors.push(e) } as unknown as Context;
  return { agent, conn, ctx, state, errors };
}

function attach(pty: RunPseudoterminal, dims = { rows: 30, columns: 100 }) {
  cleanups.push(() => pty.dispose());
  let written = '';
  const closed: (number | undefined)[] = [];
  pty.onDidWrite((s) => (written += s));
  pty.onDidClose((c) => void closed.push(typeof c === 'number' ? c : undefined));
  pty.open(dims);
  return { out: () => written, closed };
}

const pickFirst = (items: { label: string }[]) => items[0];

describe('Run Interactive', () => {
  it('creates a tty container with --rm by default, attaches a terminal, and closes it with the exit code; --rm removes it', async () => {
    const { agent, ctx, state } = await setup();
    window.inputs = ['sh -c "exec sh"'];
    window.picks = [pickFirst];
    const terminal = await runInteractive(ctx)(LEAF);
    assert.ok(terminal);
    assert.deepEqual(window.offered[0]!.labels, ['Remove the container when it exits (--rm)', 'Keep the container when it exits']);
    assert.deepEqual(agent.created, [
      {
        image: 'docker.io/library/busybox:latest',
        cmd: ['sh', '-c', 'exec sh'],
        tty: true,
        openStdin: true,
        stdinOnce: true,
        autoRemove: true,
      },
    ]);
    assert.deepEqual(state.get(RUN_INTERACTIVE_ANSWERS_KEY), {
      'docker.io/library/busybox:latest': { command: 'sh -c "exec sh"', autoRemove: true },
    });
    const t = window.terminals[0]!;
    assert.equal(t.name, 'Run: fake_1');
    assert.ok(t.shown);
    const pty = t.pty as RunPseudoterminal;
    const { out, closed } = attach(pty);
    pty.handleInput('ls'); // typed before the start answered: kept, then sent
    await until('the prompt', () => out().includes('# '));
    const start = agent.starts[0]!;
    assert.deepEqual(
      { token: start.attachToken, stream: start.stream, rows: start.rows, cols: start.cols },
      { token: pty.token, stream: true, rows: 30, cols: 100 },
    );
    pty.setDimensions({ rows: 50, columns: 132 });
    await until('the resize', () => agent.resizes.length === 1);
    assert.deepEqual(agent.resizes[0], { token: pty.token, rows: 50, cols: 132 });
    pty.handleInput('\r');
    await until('the echo', () => out().includes('ls\r\n'));
    pty.handleInput('exit 7\r');
    assert.equal(await pty.done, 7);
    assert.deepEqual(closed, [7]);
    await until('--rm removed it', () => agent.containers.length === 0);
    assert.deepEqual(agent.calls, ['create fake_1', 'start fake_1']);
  });

  it('remembers the answers per image; keeping the container keeps it after the exit', async () => {
    const { agent, ctx } = await setup();
    window.inputs = [''];
    window.picks = [(items) => items.find((i) => i.label.startsWith('Keep'))];
    await runInteractive(ctx)(LEAF);
    assert.deepEqual(agent.created[0], {
      image: 'docker.io/library/busybox:latest',
      tty: true,
      openStdin: true,
      stdinOnce: true,
      autoRemove: false,
    });
    const pty = window.terminals[0]!.pty as RunPseudoterminal;
    const { out } = attach(pty);
    await until('the prompt', () => out().includes('# '));
    pty.handleInput('exit\r');
    assert.equal(await pty.done, 0);
    assert.equal(agent.containers[0]!.State, 'exited', 'kept');
    // Next time "Keep" is offered first.
    window.inputs = [undefined];
    window.picks = [];
    assert.equal(await runInteractive(ctx)(LEAF), undefined, 'cancelled at the first question: nothing made');
    window.inputs = [''];
    await runInteractive(ctx)(LEAF);
    assert.deepEqual(window.offered.at(-1)!.labels, ['Keep the container when it exits', 'Remove the container when it exits (--rm)']);
    assert.equal(agent.created.length, 1, 'the quick pick was dismissed: nothing made');
  });

  it('closing the terminal while the container runs stops it', async () => {
    const { agent, ctx } = await setup();
    window.inputs = [''];
    window.picks = [pickFirst];
    await runInteractive(ctx)(LEAF);
    const pty = window.terminals[0]!.pty as RunPseudoterminal;
    const { out } = attach(pty);
    await until('the prompt', () => out().includes('# '));
    pty.close();
    await until('stopped', () => agent.calls.includes('stop fake_1'));
    await until('--rm removed it', () => agent.containers.length === 0);
    assert.equal(await pty.done, undefined);
  });

  it('shows a failed start as a sentence in the terminal; the next key closes it', async () => {
    const { conn } = await setup();
    const pty = new RunPseudoterminal(conn, 'nope');
    const { out, closed } = attach(pty);
    await until('the message', () => out().includes('Press any key'));
    assert.match(out(), /No such container: nope\./);
    pty.handleInput('x');
    assert.deepEqual(closed, [undefined]);
  });
});
