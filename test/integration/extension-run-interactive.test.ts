/**
 * Run Interactive's terminal against the real agent (the built bundle) and a real busybox
 * container: the extension's connection and RunPseudoterminal (with the fake `vscode` module the
 * unit tests use) attach to a `-it --rm` container over the protocol's stream; a command typed in
 * the terminal runs in the container's pty, `exit 5` closes the terminal with code 5 and the agent
 * removes the container. Every container is removed and the agent stopped in cleanup.
 */
import '../unit/extension-fake-vscode';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { CreateContainerRequest, ListContainersRequest, PullRequest } from '../../protocol';
import { AgentConnection } from '../../client/connection';
import { interactiveParams, RunPseudoterminal } from '../../extension/commands/images/runInteractive';
import { startAgent, type TestAgent } from '../support/agent';
import { until } from '../support/fakeAgent';
import { removeAllContainers } from '../support/containers';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

describe('Run Interactive against the real agent', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;
  let ext: AgentConnection;
  let ref: string;

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    await pushImage(registry, 'it/box', 'v1', await busyboxImage());
    ref = `${registry.host}/it/box:v1`;
    agent = await startAgent();
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    ext = new AgentConnection({ socket: () => agent.socket, log: () => {} });
    ext.start();
    await until('connected', () => ext.state.kind === 'connected', 15_000);
  });

  after(async () => {
    ext?.dispose();
    if (agent) await removeAllContainers(conn);
    await runCleanups();
  });

  it('attaches a terminal to a -it --rm container: typed commands run in its pty, the exit code closes it, --rm removes it', async () => {
    const created = await ext.request(CreateContainerRequest.type, interactiveParams(ref, { command: 'sh', autoRemove: true }));
    const pty = new RunPseudoterminal(ext, created.Id);
    let out = '';
    const closed: (number | undefined)[] = [];
    pty.onDidWrite((s) => (out += s));
    pty.onDidClose((c) => void closed.push(typeof c === 'number' ? c : undefined));
    pty.open({ rows: 33, columns: 101 });
    pty.handleInput('stty size; echo $((6*7))-done\r');
    await until('the answer', () => /42-done/.test(out), 15_000);
    assert.match(out, /33 101/, 'the pty has the terminal size');
    pty.handleInput('exit 5\r');
    assert.equal(await pty.done, 5);
    assert.deepEqual(closed, [5]);
    // --rm: the agent removes it once the exit is handled (bounded poll of the real agent).
    for (let i = 0; i < 100; i++) {
      const list = await conn.sendRequest(ListContainersRequest.type, { all: true });
      if (!list.some((c) => c.Id === created.Id)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail('the --rm container is still there');
  });
});
