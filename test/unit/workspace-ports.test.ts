/**
 * The parsing half of the workspace port watcher (agent/workspace/ports.ts): rows of
 * /proc/<pid>/net/tcp and tcp6 as the kernel writes them (addresses as 32-bit words in host
 * order), which of them are listeners, where they listen (reachable through the bridge, on
 * loopback only, or elsewhere), and rows a hostile or odd file may hold (garbage, port 0, short
 * addresses) skipped without throwing; and the Workspace view's rows for detected and
 * loopback-only ports. The polling and forwarding half is proven end to end in
 * test/integration/workspace-ports.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyAddress, parseProcNetTcp, type Listeners } from '../../agent/workspace/ports';
import type { WorkspaceInfo } from '../../protocol';
import { buildWorkspaceNodes, contextValue, portNodes } from '../../extension/workspace/model';

const HEADER4 = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row4 = (n: number, local: string, st: string, remote = '00000000:0000') =>
  `   ${n}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n`;
const row6 = (n: number, local: string, st: string) =>
  `   ${n}: ${local} 00000000000000000000000000000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0\n`;

const parse = (text: string, ownIp = '10.88.0.5', le = true) => {
  const into: Listeners = new Map();
  const past = parseProcNetTcp(text, ownIp, into, le);
  return { ports: Object.fromEntries([...into].sort((a, b) => a[0] - b[0])), past };
};

describe('workspace ports: /proc/net/tcp parsing', () => {
  it('finds listeners by state 0A and where they listen (little-endian words)', () => {
    const text =
      HEADER4 +
      row4(0, '00000000:1F90', '0A') + // 0.0.0.0:8080
      row4(1, '0100007F:0BB8', '0A') + // 127.0.0.1:3000
      row4(2, '0500580A:1388', '0A') + // 10.88.0.5:5000 (the container's own address)
      row4(3, '0900580A:1389', '0A') + // 10.88.0.9:5001 (not its address)
      row4(4, '0500580A:1F90', '01', '0100580A:D431'); // an established connection
    assert.deepEqual(parse(text), { ports: { 3000: 'loopback', 5000: 'reachable', 8080: 'reachable' }, past: true });
  });

  it('reads IPv6 rows: ::, ::1, v4-mapped addresses; link-local is ignored', () => {
    const text =
      row6(0, '00000000000000000000000000000000:0050', '0A') + // [::]:80
      row6(1, '00000000000000000000000001000000:0051', '0A') + // [::1]:81
      row6(2, '0000000000000000FFFF00000100007F:0052', '0A') + // [::ffff:127.0.0.1]:82
      row6(3, '0000000000000000FFFF00000500580A:0053', '0A') + // [::ffff:10.88.0.5]:83
      row6(4, '000080FE00000000FF005450B6AD1DFE:0054', '0A'); // [fe80::...]:84
    assert.deepEqual(parse(text).ports, { 80: 'reachable', 81: 'loopback', 82: 'loopback', 83: 'reachable' });
  });

  it('decodes big-endian words too', () => {
    assert.deepEqual(parse(row4(0, '7F000001:0016', '0A') + row4(1, '0A580005:0017', '0A'), '10.88.0.5', false).ports, {
      22: 'loopback',
      23: 'reachable',
    });
  });

  it('a port on both loopback and the wildcard is reachable, in either order', () => {
    assert.deepEqual(parse(row4(0, '0100007F:0050', '0A') + row4(1, '00000000:0050', '0A')).ports, { 80: 'reachable' });
    assert.deepEqual(parse(row4(0, '00000000:0050', '0A') + row4(1, '0100007F:0050', '0A')).ports, { 80: 'reachable' });
  });

  it('skips what is not a well-formed row: garbage, port 0, short or long addresses, missing fields', () => {
    const text = [
      'not a row at all',
      '   0: 00000000:0000 00000000:0000 0A x', // port 0
      '   1: 0000:1F90 00000000:0000 0A x', // 4 hex digits of address
      '   2: 000000000:1F90 00000000:0000 0A x', // 9
      '   3: 00000000:1F9 00000000:0000 0A x', // 3-digit port
      '   4: 00000000:1F90',
      '   5: ZZZZZZZZ:1F90 00000000:0000 0A x',
      '\u0000\u0001\u00ff'.repeat(100),
      row4(6, '00000000:2328', '0A'), // the one good row: 9000
    ].join('\n');
    assert.deepEqual(parse(text), { ports: { 9000: 'reachable' }, past: false });
  });

  it('says when the rows past the listeners began (so the reader can stop)', () => {
    assert.equal(parse(HEADER4 + row4(0, '00000000:0050', '0A')).past, false);
    assert.equal(parse(HEADER4 + row4(0, '0500580A:0050', '06')).past, true);
  });

  it('classifyAddress: the rules on their own', () => {
    assert.equal(classifyAddress([0, 0, 0, 0], '10.0.0.2'), 'reachable');
    assert.equal(classifyAddress([127, 1, 2, 3], '10.0.0.2'), 'loopback');
    assert.equal(classifyAddress([10, 0, 0, 2], '10.0.0.2'), 'reachable');
    assert.equal(classifyAddress([10, 0, 0, 3], '10.0.0.2'), undefined);
    assert.equal(classifyAddress([10, 0, 0, 2], undefined), undefined);
    assert.equal(classifyAddress([...Array(15).fill(0), 1], '10.0.0.2'), 'loopback');
    assert.equal(classifyAddress([...Array(15).fill(0), 2], '10.0.0.2'), undefined);
  });
});

describe('workspace ports: the Workspace view rows', () => {
  it('lists forwarded ports (forwardPorts and detected) by port, marking those on the container loopback', () => {
    const info: WorkspaceInfo = {
      folder: '/p',
      configFile: '/p/.devcontainer.json',
      configHash: '0'.repeat(64),
      container: { Id: 'c'.repeat(64), Name: 'ws', State: 'running' },
      image: 'box',
      workspaceFolder: '/workspaces/p',
      remoteUser: '',
      remoteEnv: [],
      ports: [
        { containerPort: 9000, hostIp: '127.0.0.1', hostPort: 40001, detected: true },
        { containerPort: 3000, hostIp: '127.0.0.1', hostPort: 3000 },
        { containerPort: 5432, hostIp: '127.0.0.1', hostPort: 5432, detected: true },
      ],
      loopbackPorts: [5432],
    };
    const [folder] = buildWorkspaceNodes([{ name: 'p', path: '/p' }], [info]);
    const rows = portNodes(folder!);
    assert.deepEqual(
      rows.map((r) => [contextValue(r), r.kind === 'port' ? r.port.containerPort : -1, r.kind === 'port' && r.loopback === true]),
      [
        ['workspacePort', 3000, false],
        ['workspacePort', 5432, true],
        ['workspacePort', 9000, false],
      ],
    );
    // An agent that does not detect ports sends no loopbackPorts.
    const { loopbackPorts: _none, ...older } = info;
    assert.equal(
      portNodes(buildWorkspaceNodes([{ name: 'p', path: '/p' }], [older])[0]!).filter((r) => r.kind === 'port' && r.loopback).length,
      0,
    );
  });
});
