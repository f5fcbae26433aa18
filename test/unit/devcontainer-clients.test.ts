/**
 * The workspace clients' pure parts: the CLI's printing of `workspace/up` (cli/commands/up.ts) and
 * the extension's Workspace view model (extension/workspace/model.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkspaceInfo, WorkspaceUpResult } from '../../protocol';
import { upSummary, WorkspacePrinter } from '../../cli/commands/up';
import { buildWorkspaceNodes, contextValue, portAddress, portNodes, portUrl } from '../../extension/workspace/model';

const info: WorkspaceInfo = {
  folder: '/home/dev/proj',
  configFile: '/home/dev/proj/.devcontainer/devcontainer.json',
  configHash: 'a'.repeat(64),
  container: { Id: 'b'.repeat(64), Name: 'berth-ws-proj-12345678', State: 'running' },
  image: 'box:1',
  workspaceFolder: '/workspaces/proj',
  remoteUser: '',
  remoteEnv: [],
  ports: [
    { containerPort: 9000, hostIp: '127.0.0.1', hostPort: 41234 },
    { containerPort: 8080, hostIp: '127.0.0.1', hostPort: 8080 },
  ],
};

describe('berth up output', () => {
  it('summarises the answer: ignored keys, each forwarded port (saying when another port was used), the container', () => {
    const r: WorkspaceUpResult = { ...info, action: 'running', ran: [], ignored: ['features'] };
    assert.equal(
      upSummary(r),
      'Ignored devcontainer.json keys (not supported by Berth): features\n' +
        'Forwarding 127.0.0.1:41234 -> 9000/tcp (port 9000 was in use on the host)\n' +
        'Forwarding 127.0.0.1:8080 -> 8080/tcp\n' +
        'Workspace container berth-ws-proj-12345678 (bbbbbbbbbbbb) already running, reused: /home/dev/proj is at /workspaces/proj\n',
    );
  });

  it('prints steps on stderr and command output where the command wrote it, even with -q', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), stderrIsTTY: false, columns: undefined };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    for (const quiet of [false, true]) {
      out.length = err.length = 0;
      const p = new WorkspacePrinter(io, quiet);
      p.event({ type: 'message', message: 'Creating container x' });
      p.event({ type: 'command', command: 'postCreateCommand', part: '', argv: ['/bin/sh', '-c', 'make setup'] });
      p.event({ type: 'output', command: 'postCreateCommand', part: '', stream: 'stdout', data: b64('building\n') });
      p.event({ type: 'output', command: 'postCreateCommand', part: '', stream: 'stderr', data: b64('warning\n') });
      p.event({ type: 'exit', command: 'postCreateCommand', part: '', exitCode: 2 });
      p.event({ type: 'command', command: 'postStartCommand', part: 'web', argv: ['httpd', '-p', '80 81'] });
      assert.deepEqual(out, ['building\n']);
      assert.deepEqual(
        err,
        quiet
          ? ['warning\n', 'postCreateCommand exited with code 2\n']
          : [
              'Creating container x\n',
              'Running postCreateCommand: make setup\n',
              'warning\n',
              'postCreateCommand exited with code 2\n',
              'Running postStartCommand "web": httpd -p \'80 81\'\n',
            ],
      );
    }
  });
});

describe('the Workspace view model', () => {
  it('makes a row per folder with its container state, and port rows sorted by container port', () => {
    const folders = [
      { name: 'proj', path: '/home/dev/proj' },
      { name: 'other', path: '/home/dev/other' },
      { name: 'gone', path: '/home/dev/gone' },
    ];
    const nodes = buildWorkspaceNodes(folders, [info, null, { error: 'no such folder' }]);
    assert.deepEqual(nodes.map(contextValue), ['workspace.running', 'workspace.none', 'workspace.none']);
    assert.equal(nodes[2].kind === 'folder' && nodes[2].error, 'no such folder');
    const ports = portNodes(nodes[0]);
    assert.deepEqual(
      ports.map((p) => p.kind === 'port' && p.port.containerPort),
      [8080, 9000],
    );
    assert.deepEqual(ports.map(contextValue), ['workspacePort', 'workspacePort']);
    assert.deepEqual(portNodes(nodes[1]), []);
    const stopped = buildWorkspaceNodes([folders[0]], [{ ...info, container: { ...info.container, State: 'exited' } }]);
    assert.equal(contextValue(stopped[0]), 'workspace.exited');
  });

  it('gives each port its local address and the URL a browser opens', () => {
    assert.equal(portUrl({ containerPort: 80, hostIp: '127.0.0.1', hostPort: 8080 }), 'http://127.0.0.1:8080/');
    assert.equal(portUrl({ containerPort: 80, hostIp: '0.0.0.0', hostPort: 80 }), 'http://127.0.0.1:80/');
    assert.equal(portUrl({ containerPort: 80, hostIp: '::1', hostPort: 8080 }), 'http://[::1]:8080/');
    assert.equal(portAddress({ containerPort: 80, hostIp: '127.0.0.1', hostPort: 8080 }), '127.0.0.1:8080');
  });
});
