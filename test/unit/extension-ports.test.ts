/**
 * Published ports in the Containers tree: Docker's Ports rows (one per address family, exposed
 * ones without PublicPort) as the row's description and tooltip.
 */
import './extension-fake-vscode';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerSummary } from '../../protocol';
import { ContainerTreeItem } from '../../extension/tree/containers/ContainerTreeItem';
import { allPortsText, portText, publishedPortsText } from '../../extension/tree/containers/ports';
import { fakeContainer } from '../support/fakeAgent';

const PORTS: ContainerSummary['Ports'] = [
  { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
  { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
  { IP: '127.0.0.1', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
  { PrivatePort: 443, Type: 'tcp' },
];

describe('published ports', () => {
  it('are written host→container/proto, any-address IPs left out, each once, by host port', () => {
    assert.equal(portText(PORTS[0]!), '8080→80/tcp');
    assert.equal(portText(PORTS[2]!), '127.0.0.1:5353→53/udp');
    assert.equal(portText({ IP: 'fd00::1', PrivatePort: 22, PublicPort: 2222, Type: 'tcp' }), '[fd00::1]:2222→22/tcp');
    assert.equal(portText(PORTS[3]!), '443/tcp');
    assert.equal(publishedPortsText(PORTS), '127.0.0.1:5353→53/udp, 8080→80/tcp');
    assert.equal(allPortsText(PORTS), '127.0.0.1:5353→53/udp, 8080→80/tcp, 443/tcp');
    assert.equal(publishedPortsText([]), '');
    assert.equal(publishedPortsText(undefined), '');
  });

  it('show in the row description (published only) and the tooltip (all)', () => {
    const c = fakeContainer('a'.repeat(64), 'web', 'busybox', 'running', { Ports: PORTS });
    const node = { kind: 'container' as const, id: 'container:a', name: 'web', reference: c.Id, container: c };
    const item = new ContainerTreeItem(node, { stale: false, now: Date.now(), groupBy: 'state' });
    assert.match(String(item.description), / · busybox · 127\.0\.0\.1:5353→53\/udp, 8080→80\/tcp$/);
    assert.match((item.tooltip as { value: string }).value, /Ports: 127\\\.0\\\.0\\\.1:5353→53\/udp, 8080→80\/tcp, 443\/tcp/);
    const none = new ContainerTreeItem(
      { ...node, container: fakeContainer('b'.repeat(64), 'db', 'busybox', 'exited') },
      { stale: false, now: Date.now(), groupBy: 'image' },
    );
    assert.ok(!String(none.description).includes('→'));
    assert.ok(!(none.tooltip as { value: string }).value.includes('Ports'));
  });
});
