/**
 * The default network's pure parts: its configuration (settings.json + env), address allocation
 * recorded on disk (ipam.ts), the /etc/hosts and resolv.conf a container gets (etc.ts), the
 * iptables rules (iptables.ts) and the route-overlap check. No root needed; files in temp dirs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { overlappingRoutes } from '../../agent/runtime/network';
import { formatIPv4, macFor, networkConfig, parseIPv4, parseSubnet } from '../../agent/runtime/network/config';
import { filterResolvConf, initialHosts, renderBridgeHosts, resolvConfFor, rewriteInPlace } from '../../agent/runtime/network/etc';
import { Ipam } from '../../agent/runtime/network/ipam';
import { buildRules, ruleArgs, rulesInSave } from '../../agent/runtime/network/iptables';
import { makeTempDirSync, runCleanups } from '../support/tmp';

after(runCleanups);

function fails(fn: () => unknown, code: ErrorCode, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BerthError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

const id = (n: number) => n.toString(16).padStart(64, '0');

describe('network: configuration', () => {
  it('defaults to berth0 and 10.89.0.0/24; the file, then the environment, override', () => {
    const d = networkConfig(undefined, '/s/settings.json', {});
    assert.equal(d.bridge, 'berth0');
    assert.equal(formatIPv4(d.subnet.base), '10.89.0.0');
    assert.equal(d.subnet.prefix, 24);
    assert.equal(formatIPv4(d.gateway), '10.89.0.1');
    const f = networkConfig({ bridge: 'lab0', subnet: '192.168.77.0/24' }, '/s/settings.json', {});
    assert.equal(f.bridge, 'lab0');
    assert.equal(formatIPv4(f.gateway), '192.168.77.1');
    const e = networkConfig({ bridge: 'lab0', subnet: '192.168.77.0/24' }, '/s/settings.json', {
      BERTH_BRIDGE: 'bt9',
      BERTH_SUBNET: '172.20.0.0/16',
    });
    assert.equal(e.bridge, 'bt9');
    assert.equal(formatIPv4(e.gateway), '172.20.0.1');
  });

  it('refuses bad values, naming where they came from', () => {
    const bad = (f: unknown, env: NodeJS.ProcessEnv, re: RegExp) =>
      fails(() => networkConfig(f as never, '/s/settings.json', env), ErrorCode.InvalidArgument, re);
    bad(
      { subnet: '10.89.0.5/24' },
      {},
      /subnet "10.89.0.5\/24" has host bits set; its network address is 10.89.0.0\/24 \(from \/s\/settings.json\)/,
    );
    bad({ subnet: '8.8.8.0/24' }, {}, /is not private address space/);
    bad({ subnet: '10.0.0.0/4' }, {}, /the prefix must be \/8 to \/28/);
    bad({ subnet: '10.0.0.0/30' }, {}, /the prefix must be \/8 to \/28/);
    bad({ subnet: 'fd00::/64' }, {}, /is not IPv4 CIDR/);
    bad({ subnet: 24 }, {}, /must be a string/);
    bad({ bridge: 'eth0; rm -rf /' }, {}, /bridge name "eth0; rm -rf \/" is not an interface name/);
    bad({ bridge: '-o' }, {}, /is not an interface name/);
    bad({ bridge: 'a'.repeat(16) }, {}, /is not an interface name/);
    bad({ nope: 1 }, {}, /unknown key "network.nope"/);
    bad([], {}, /"network" must be an object/);
    bad(undefined, { BERTH_SUBNET: '10.1.1.1' }, /not IPv4 CIDR.*\(from BERTH_SUBNET\)/);
    bad(undefined, { BERTH_BRIDGE: 'x y' }, /\(from BERTH_BRIDGE\)/);
  });

  it('parses addresses strictly and gives Docker-style MACs', () => {
    assert.equal(parseIPv4('10.089.0.1'), undefined, 'no leading zeros (octal ambiguity)');
    assert.equal(parseIPv4('256.0.0.1'), undefined);
    assert.equal(parseIPv4('1.2.3.4.5'), undefined);
    assert.equal(formatIPv4(parseIPv4('172.17.0.2')!), '172.17.0.2');
    assert.equal(macFor(parseIPv4('172.17.0.2')!), '02:42:ac:11:00:02');
  });

  it('finds host routes that overlap the subnet on other devices', () => {
    const s = parseSubnet('10.89.0.0/24', 't');
    const routes = [
      'default via 192.0.2.1 dev eth0',
      '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2',
      '10.89.0.0/24 dev berth0 proto kernel',
      '10.0.0.0/8 dev tun0',
      '10.89.0.77 dev wg0',
    ].join('\n');
    assert.deepEqual(overlappingRoutes(routes, s, 'berth0'), ['10.0.0.0/8 dev tun0', '10.89.0.77 dev wg0']);
    assert.deepEqual(overlappingRoutes(routes, parseSubnet('192.168.5.0/24', 't'), 'berth0'), []);
  });
});

describe('network: address allocation', () => {
  const subnet = parseSubnet('10.89.0.0/28', 't'); // .2 .. .14: 13 addresses

  it('hands out addresses round-robin, never twice, keeps them, and survives a restart', () => {
    const root = makeTempDirSync('berth-ipam-');
    const a = new Ipam(root, subnet);
    assert.equal(a.allocate(id(1), 'create container'), '10.89.0.2');
    assert.equal(a.allocate(id(2), 'create container'), '10.89.0.3');
    assert.equal(a.allocate(id(1), 'create container'), '10.89.0.2', 'a container keeps its address');
    a.release(id(1));
    assert.equal(a.allocate(id(3), 'create container'), '10.89.0.4', 'a released address is not the next one');
    const b = new Ipam(root, subnet);
    assert.equal(b.address(id(2)), '10.89.0.3', 'recorded on disk');
    assert.equal(b.address(id(1)), undefined);
    assert.equal(statSync(b.path).mode & 0o777, 0o600);
  });

  it('a full subnet is a Conflict that says so; a release makes room', () => {
    const a = new Ipam(makeTempDirSync('berth-ipam-'), subnet);
    const got = new Set<string>();
    for (let i = 1; i <= 13; i++) got.add(a.allocate(id(i), 'create container'));
    assert.equal(got.size, 13);
    assert.ok(
      !got.has('10.89.0.1') && !got.has('10.89.0.15') && !got.has('10.89.0.0'),
      'gateway, broadcast and network address are never handed out',
    );
    fails(
      () => a.allocate(id(99), 'create container'),
      ErrorCode.Conflict,
      /create container: no free address in the default network's subnet 10.89.0.0\/28 \(13 containers hold its 13 addresses\)/,
    );
    a.release(id(5));
    assert.equal(a.allocate(id(99), 'create container'), '10.89.0.6');
  });

  it('reallocates an address from an old subnet, and drops entries of containers that are gone', () => {
    const root = makeTempDirSync('berth-ipam-');
    new Ipam(root, parseSubnet('10.50.0.0/24', 't')).allocate(id(1), 'c');
    const a = new Ipam(root, subnet);
    assert.equal(a.address(id(1)), undefined, 'not in the current subnet');
    assert.equal(a.allocate(id(1), 'c'), '10.89.0.2');
    a.allocate(id(2), 'c');
    assert.deepEqual(
      a.retain((x) => x === id(2)),
      [id(1)],
    );
    assert.deepEqual(new Ipam(root, subnet).ids(), [id(2)]);
  });

  it('survives a hostile or broken state file', () => {
    const root = makeTempDirSync('berth-ipam-');
    mkdirSync(join(root, 'network'));
    const path = join(root, 'network', 'state.json');
    writeFileSync(path, '{not json');
    assert.deepEqual(new Ipam(root, subnet).ids(), []);
    writeFileSync(
      path,
      JSON.stringify({
        containers: {
          '../../etc': { ip: '10.89.0.2' },
          [id(1)]: { ip: 'ten' },
          [id(2)]: { ip: '10.89.0.3', ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 }] },
          [id(3)]: { ip: '10.89.0.4', ports: [{ containerPort: 99999, protocol: 'tcp', hostIp: '', hostPort: 1 }] },
        },
        next: 'x',
      }),
    );
    const logs: string[] = [];
    const a = new Ipam(root, subnet, (m) => logs.push(m));
    assert.deepEqual(a.ids().sort(), [id(2), id(3)]);
    assert.deepEqual(a.ports(id(2)), [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 }]);
    assert.deepEqual(a.ports(id(3)), [], 'malformed ports are dropped');
    assert.equal(logs.length, 2);
    assert.equal(a.allocate(id(4), 'c'), '10.89.0.2', 'the dropped entries hold nothing');
  });

  it('migrates the state file of the format before 1; refuses a format it does not know', () => {
    const root = makeTempDirSync('berth-ipam-');
    mkdirSync(join(root, 'network'));
    const path = join(root, 'network', 'state.json');
    const entries = {
      [id(1)]: { ip: '10.89.0.7' },
      [id(2)]: { ip: '10.89.0.3', ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 }] },
    };
    writeFileSync(path, JSON.stringify({ version: 1, containers: entries, next: '10.89.0.8' }));
    const a = new Ipam(root, subnet);
    assert.deepEqual(a.ids().sort(), [id(1), id(2)]);
    assert.equal(a.address(id(1)), '10.89.0.7');
    assert.deepEqual(
      JSON.parse(readFileSync(path, 'utf8')),
      { formatVersion: 1, containers: entries, next: '10.89.0.8' },
      'rewritten at once',
    );
    writeFileSync(path, JSON.stringify({ formatVersion: 9, containers: entries }));
    const logs: string[] = [];
    assert.deepEqual(new Ipam(root, subnet, (m) => logs.push(m)).ids(), []);
    assert.match(logs.join('\n'), /format version 9, which this agent does not know/);
  });
});

describe('network: /etc/hosts and resolv.conf', () => {
  it('lists the container itself, then the other containers by name and short id', () => {
    const hosts = renderBridgeHosts({ ip: '10.89.0.2', hostname: 'web' }, [
      { ip: '10.89.0.4', name: 'zeta', id: 'b'.repeat(64) },
      { ip: '10.89.0.3', name: 'db', id: 'a'.repeat(64) },
      { ip: 'not-an-ip', name: 'bad', id: 'c'.repeat(64) },
      { ip: '10.89.0.5', name: 'evil\n1.2.3.4 bank', id: 'd'.repeat(64) },
    ]);
    assert.equal(
      hosts,
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.89.0.2\tweb\n' +
        `10.89.0.3\tdb ${'a'.repeat(12)}\n` +
        `10.89.0.5\t${'d'.repeat(12)}\n` +
        `10.89.0.4\tzeta ${'b'.repeat(12)}\n`,
    );
  });

  it('drops loopback nameservers, keeps the rest, falls back to public ones', () => {
    assert.equal(
      filterResolvConf('search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n'),
      'search lan\nnameserver 10.0.0.1\noptions edns0\n',
    );
    assert.equal(filterResolvConf('nameserver 127.0.0.1\nnameserver ::1\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(filterResolvConf(''), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it('host mode gets the host files unchanged; none mode a localhost hosts file', () => {
    const d = makeTempDirSync('berth-etc-');
    writeFileSync(join(d, 'resolv'), 'nameserver 127.0.0.53\n');
    writeFileSync(join(d, 'hosts'), '127.0.0.1 localhost\n192.0.2.9 printer\n');
    assert.equal(resolvConfFor('host', join(d, 'resolv')), 'nameserver 127.0.0.53\n');
    assert.equal(resolvConfFor('bridge', join(d, 'resolv')), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(initialHosts('host', 'box', join(d, 'hosts')), '127.0.0.1 localhost\n192.0.2.9 printer\n');
    assert.match(initialHosts('none', 'box', join(d, 'hosts')), /\n127\.0\.0\.1\tbox\n$/);
  });

  it('rewrites a hosts file in place: same inode, shorter content leaves no tail', () => {
    const d = makeTempDirSync('berth-etc-');
    const p = join(d, 'hosts');
    writeFileSync(p, 'x'.repeat(1000));
    const ino = statSync(p).ino;
    rewriteInPlace(p, 'short\n');
    assert.equal(readFileSync(p, 'utf8'), 'short\n');
    assert.equal(statSync(p).ino, ino);
    assert.throws(() => rewriteInPlace(join(d, 'missing'), 'x'), /ENOENT/);
  });
});

describe('network: iptables rules', () => {
  const cfg = { bridge: 'berth0', subnet: parseSubnet('10.89.0.0/24', 't') };

  it('NAT out of anything but the bridge, forwarding for the bridge, each with the bridge in a comment', () => {
    const rules = buildRules(cfg);
    assert.deepEqual(ruleArgs(rules[0], 'add'), [
      '-w',
      '5',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '10.89.0.0/24',
      '!',
      '-o',
      'berth0',
      '-m',
      'comment',
      '--comment',
      'berth:berth0',
      '-j',
      'MASQUERADE',
    ]);
    assert.deepEqual(ruleArgs(rules[3], 'add').slice(0, 6), ['-w', '5', '-t', 'filter', '-I', 'FORWARD']);
    assert.deepEqual(ruleArgs(rules[3], 'check').slice(4, 6), ['-C', 'FORWARD']);
    assert.deepEqual(ruleArgs(rules[3], 'delete').slice(4, 6), ['-D', 'FORWARD']);
    for (const r of rules) assert.ok(r.spec.join(' ').includes('--comment berth:berth0'), r.spec.join(' '));
    assert.ok(
      rules.some(
        (r) => r.spec.join(' ') === '-o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment berth:berth0 -j ACCEPT',
      ),
    );
  });

  it('finds its rules in iptables-save output, and only its own', () => {
    const save = [
      '*nat',
      '-A POSTROUTING -s 10.89.0.0/24 ! -o berth0 -m comment --comment "berth:berth0" -j MASQUERADE',
      '-A POSTROUTING -s 10.90.0.0/24 ! -o berth00 -m comment --comment "berth:berth00" -j MASQUERADE',
      '-A POSTROUTING -o eth0 -j MASQUERADE',
      '*filter',
      '-A FORWARD -i berth0 -m comment --comment berth:berth0 -j ACCEPT',
    ].join('\n');
    assert.equal(rulesInSave(save, 'berth0').length, 2);
    assert.equal(rulesInSave(save, 'berth00').length, 1);
  });
});
