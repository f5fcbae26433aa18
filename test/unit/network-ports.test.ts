/**
 * `-p` specs (agent/runtime/network/ports.ts), the mode check of `--network`, Docker's shapes of
 * published and exposed ports, and `ps`'s PORTS column. Pure: no root, no network.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { validateNetwork } from '../../agent/runtime/network';
import {
  bindingsFromDocker,
  dockerPortBindings,
  dockerPorts,
  exposedPorts,
  MAX_BINDINGS,
  parsePortSpec,
  parsePortSpecs,
} from '../../agent/runtime/network/ports';
import { formatPorts } from '../../cli/commands/ps';
import { portLines } from '../../cli/commands/port';

function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BerthError, String(e));
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, re);
    return true;
  });
}

describe('network: -p specs', () => {
  it('takes every form Docker takes', () => {
    assert.deepEqual(parsePortSpec('80'), [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 0 }]);
    assert.deepEqual(parsePortSpec('8080:80'), [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 }]);
    assert.deepEqual(parsePortSpec('53:53/udp'), [{ containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 53 }]);
    assert.deepEqual(parsePortSpec('127.0.0.1:8080:80/TCP'), [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 }]);
    assert.deepEqual(parsePortSpec('0.0.0.0::80'), [{ containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 0 }]);
    assert.deepEqual(parsePortSpec('[::1]:8080:80/udp'), [{ containerPort: 80, protocol: 'udp', hostIp: '::1', hostPort: 8080 }]);
    assert.deepEqual(parsePortSpec('[::1]::80'), [{ containerPort: 80, protocol: 'tcp', hostIp: '::1', hostPort: 0 }]);
  });

  it('expands ranges pairwise, or with chosen host ports', () => {
    assert.deepEqual(
      parsePortSpec('8000-8002:80-82').map((b) => [b.hostPort, b.containerPort]),
      [
        [8000, 80],
        [8001, 81],
        [8002, 82],
      ],
    );
    assert.deepEqual(
      parsePortSpec('90-91/udp').map((b) => [b.hostPort, b.containerPort, b.protocol]),
      [
        [0, 90, 'udp'],
        [0, 91, 'udp'],
      ],
    );
  });

  it('refuses malformed specs with a message naming the spec and the problem', () => {
    invalid(() => parsePortSpec(''), /invalid port spec "": want/);
    invalid(() => parsePortSpec('0'), /"0": container port 0 is out of range \(1-65535\)/);
    invalid(() => parsePortSpec('65536'), /container port 65536 is out of range/);
    invalid(() => parsePortSpec('8080:0'), /container port 0 is out of range/);
    invalid(() => parsePortSpec('70000:80'), /host port 70000 is out of range/);
    invalid(() => parsePortSpec('http'), /container port "http" is not a number/);
    invalid(() => parsePortSpec('80/sctp'), /protocol "sctp" is not tcp or udp/);
    invalid(() => parsePortSpec('80/'), /protocol "" is not tcp or udp/);
    invalid(() => parsePortSpec('1.2.3:80:80'), /"1.2.3" is not an IPv4 address/);
    invalid(() => parsePortSpec('999.1.1.1:80:80'), /"999.1.1.1" is not an IPv4 address/);
    invalid(() => parsePortSpec('::1:80:80'), /too many ":"/);
    invalid(() => parsePortSpec('[1.2.3.4]:80:80'), /"1.2.3.4" is not an IPv6 address/);
    invalid(() => parsePortSpec('[::1]:80'), /want \[IPv6\]:HOST_PORT:CONTAINER_PORT/);
    invalid(() => parsePortSpec('8080:'), /the container port is missing/);
    invalid(() => parsePortSpec('8000-8001:80'), /host range 8000-8001 and the container range 80 differ in length/);
    invalid(() => parsePortSpec('90-80'), /range 90-80 runs backwards/);
    invalid(() => parsePortSpec('1-2000'), /a range of 2000 ports is more than 1024/);
    invalid(() => parsePortSpec('80 '), /want \[IP:\]\[HOST_PORT:\]CONTAINER_PORT/);
    invalid(() => parsePortSpec('8\u000080'), /invalid port spec/);
    invalid(() => parsePortSpec('x'.repeat(5000)), /invalid port spec/);
    invalid(() => parsePortSpec('+80'), /is not a number/);
  });

  it('refuses a host port published twice, and too many bindings', () => {
    invalid(() => parsePortSpecs(['8080:80', '127.0.0.1:8080:81']), /host port 127.0.0.1:8080\/tcp is published twice/);
    assert.equal(parsePortSpecs(['8080:80', '8080:80/udp']).length, 2, 'tcp and udp are different ports');
    assert.equal(parsePortSpecs(['80', '80']).length, 2, 'chosen host ports never collide');
    invalid(() => parsePortSpecs(['1-1000', '2001-2100']), new RegExp(`1100 published ports is more than ${MAX_BINDINGS}`));
  });

  it('records Docker shapes and reads them back', () => {
    const b = parsePortSpecs(['8080:80', '127.0.0.1::53/udp', '[::1]:9000:90']);
    const pb = dockerPortBindings(b);
    assert.deepEqual(pb, {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }],
      '90/tcp': [{ HostIp: '::1', HostPort: '9000' }],
    });
    assert.deepEqual(bindingsFromDocker(pb), b);
    invalid(() => bindingsFromDocker({ '80/sctp': [] }), /recorded port binding "80\/sctp"/);
    invalid(() => bindingsFromDocker({ '80/tcp': [{ HostIp: 'evil host', HostPort: '1' }] }), /invalid port spec/);
  });

  it('exposes the image ports (normalised; odd keys dropped) and the published ones', () => {
    assert.deepEqual(exposedPorts({ '443': {}, '53/UDP': {}, 'junk/tcp': {}, '70000/tcp': {}, '0/tcp': {} }, parsePortSpec('8080:80')), {
      '443/tcp': {},
      '53/udp': {},
      '80/tcp': {},
    });
    assert.deepEqual(
      dockerPorts({ '443/tcp': {}, '80/tcp': {} }, [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 }]),
      { '443/tcp': null, '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
    );
  });
});

describe('network: --network modes', () => {
  it('bridge by default; host and none; published ports need the bridge', () => {
    assert.equal(validateNetwork('create container', undefined, undefined).mode, 'bridge');
    assert.equal(validateNetwork('create container', 'default', []).mode, 'bridge');
    assert.equal(validateNetwork('create container', 'host', []).mode, 'host');
    assert.equal(validateNetwork('create container', 'none', undefined).mode, 'none');
    invalid(() => validateNetwork('create container', 'mynet', []), /create container: network "mynet" is not one of bridge, host, none/);
    invalid(() => validateNetwork('create container', 'container:abc', []), /network "container:abc" is not one of/);
    invalid(
      () => validateNetwork('create container', 'host', ['80']),
      /published ports \(-p\) need the bridge network; with --network host/,
    );
    invalid(() => validateNetwork('create container', 'none', ['8080:80']), /with --network none/);
  });
});

describe('network: ps PORTS and berth port', () => {
  it('words published and exposed ports as docker ps does', () => {
    assert.equal(
      formatPorts([
        { PrivatePort: 443, Type: 'tcp' },
        { IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '::1', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
      ]),
      '[::1]:5353->53/udp, 127.0.0.1:8080->80/tcp, 443/tcp',
    );
    assert.equal(formatPorts([]), '');
  });

  it("lists published ports, or one port's host addresses", () => {
    const ports = {
      '443/tcp': null,
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      '53/udp': [{ HostIp: '::1', HostPort: '5353' }],
    };
    assert.deepEqual(portLines(ports), ['53/udp -> [::1]:5353', '80/tcp -> 127.0.0.1:8080']);
    assert.deepEqual(portLines(ports, '80/tcp'), ['127.0.0.1:8080']);
    assert.deepEqual(portLines(ports, '443/tcp'), []);
  });
});
