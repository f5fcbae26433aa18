/**
 * Container networking end to end: a real agent (the built bundle) with a default network of its
 * own (a bridge and subnet given by test/support/agent.ts; here a /28, so a full subnet is quick
 * to reach), real busybox containers, real veths, namespaces and iptables rules. Traffic goes
 * only between this process and the containers it started (over the host's loopback and the
 * test's bridge). Every container is removed in cleanup; the agent's stop removes the bridge and
 * its rules; the last checks prove no namespace, veth, bridge or rule of this test is left.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateContainerRequest,
  ErrorCode,
  InspectContainerRequest,
  ListContainersRequest,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  type ContainerInspect,
  type ContainerSummary,
} from '../../protocol';
import { netnsName, vethName } from '../../agent/runtime/network';
import { rulesInSave } from '../../agent/runtime/network/iptables';
import { startAgent, testNetwork } from '../support/agent';
import { expectAgentError, ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { busyboxLayer, buildImage } from '../support/images';
import { makeTempDir, registerCleanup, stopChild, trackChild } from '../support/tmp';
import { cgroupLeft } from '../support/containers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` (bounded: `tries` x 100 ms) until it returns a value; the last error otherwise. */
async function eventually<T>(what: string, f: () => Promise<T | undefined>, tries = 80): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** An HTTP/1.0 GET over a plain TCP connection from this process; the whole answer, bounded. */
function httpGet(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let out = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`no answer from ${host}:${port} within 5 s`))), 5000);
    s.on('connect', () => s.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    s.on('data', (d) => (out += d.toString()));
    s.on('error', (e) => (clearTimeout(t), reject(e)));
    s.on('close', () => (clearTimeout(t), resolve(out)));
  });
}

/** One UDP datagram to 127.0.0.1:port and its answer, or undefined after 300 ms. */
function udpAsk(port: number, msg: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => (s.close(), resolve(undefined)), 300);
    s.on('message', (m) => (clearTimeout(t), s.close(), resolve(m.toString())));
    s.on('error', () => (clearTimeout(t), s.close(), resolve(undefined)));
    s.send(msg, port, '127.0.0.1');
  });
}

const ipLinks = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
const iptablesSave = () => execFileSync('iptables-save', { encoding: 'utf8' });

/** A static UDP echo server ("echo:" + each datagram back to its sender), for the busybox image, which has none. */
const UDP_ECHO_C = `
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[1]));
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
  for (;;) {
    char buf[1500];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) continue;
    memcpy(buf, "echo:", 5);
    sendto(s, buf, (size_t)n + 5, 0, (struct sockaddr *)&from, fl);
  }
}
`;

describe('container networking', () => {
  let bridge: string;
  let subnet: string;
  let root: string;
  let udpDir: string;
  const ids = new Set<string>();
  const s = containerSuite({
    repo: 'net/box',
    tools: ['docker-registry', 'tar', 'gzip', 'ip', 'iptables', 'iptables-save', 'gcc'],
    image: async () =>
      buildImage({ layers: [await busyboxLayer()], config: { Env: ['PATH=/bin'], Cmd: ['sh'], ExposedPorts: { '443/tcp': {} } } }),
    agentOptions: async () => {
      root = await makeTempDir('berth-root-');
      const net = testNetwork(root);
      bridge = net.bridge;
      subnet = net.subnet.replace(/\/24$/, '/28'); // 13 addresses
      return { root, env: { BERTH_SUBNET: subnet } };
    },
    cliTimeoutMs: 60_000,
  });
  const { cli } = s;

  const inspect = (id: string) => s.conn.sendRequest(InspectContainerRequest.type, { container: id }) as Promise<ContainerInspect>;
  const runD = async (args: string[]): Promise<string> => {
    const r = ok(await cli(['run', '-d', ...args]), `run -d ${args.join(' ')}`);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    ids.add(s.track(id));
    return id;
  };
  const exec = async (c: string, args: string[]) => ok(await cli(['exec', c, ...args]), `exec ${c} ${args.join(' ')}`).stdout;
  const addressOf = (id: string): string | undefined => {
    const state = JSON.parse(readFileSync(join(root, 'network', 'state.json'), 'utf8')) as { containers: Record<string, { ip: string }> };
    return state.containers[id]?.ip;
  };
  /** Nothing of the network of container `id` is left on the host. */
  const noNetworkLeft = (id: string) => {
    assert.ok(!ipLinks().includes(`${vethName(id)}@`), `no veth ${vethName(id)} left`);
    assert.ok(
      !netnsList()
        .split('\n')
        .some((l) => l.startsWith(netnsName(id))),
      `no namespace ${netnsName(id)} left`,
    );
    assert.ok(!existsSync(`/run/netns/${netnsName(id)}`));
  };
  /** A web server on port 80 of the container answering `body`. */
  const httpd = (body: string) => ['sh', '-c', `mkdir -p /www && echo ${body} > /www/index.html && exec busybox httpd -f -p 80 -h /www`];

  before(async () => {
    udpDir = await makeTempDir('berth-udpecho-');
    writeFileSync(join(udpDir, 'udpecho.c'), UDP_ECHO_C);
    execFileSync('gcc', ['-static', '-O2', '-o', join(udpDir, 'udpecho'), join(udpDir, 'udpecho.c')]);
  });

  // After the suite's teardown, which stopped the agent (removing its bridge and rules) and
  // checked the containers' cgroups.
  after(() => {
    for (const id of ids) noNetworkLeft(id);
    if (bridge) {
      assert.ok(!existsSync(`/sys/class/net/${bridge}`), `the bridge ${bridge} is gone`);
      assert.deepEqual(rulesInSave(iptablesSave(), bridge), [], `no iptables rule of ${bridge} is left`);
    }
  });

  it('a container gets eth0 with an address of the subnet and a default route via the gateway; inspect tells them', async () => {
    const id = await runD(['--name', 'alpha', s.ref, 'sleep', '600']);
    const c = await inspect(id);
    const ns = c.NetworkSettings;
    const base = subnet.split('/')[0].split('.').map(Number);
    const gateway = `${base[0]}.${base[1]}.${base[2]}.${base[3] + 1}`;
    assert.equal(c.HostConfig.NetworkMode, 'bridge');
    assert.equal(ns.Gateway, gateway);
    assert.equal(ns.IPPrefixLen, 28);
    assert.equal(ns.IPAddress, addressOf(id), 'the address recorded for it');
    const last = Number(ns.IPAddress.split('.')[3]);
    assert.ok(ns.IPAddress.startsWith(`${base[0]}.${base[1]}.${base[2]}.`) && last > base[3] + 1 && last < base[3] + 15, ns.IPAddress);
    assert.equal(
      ns.MacAddress,
      '02:42:' +
        ns.IPAddress.split('.')
          .map((o) => Number(o).toString(16).padStart(2, '0'))
          .join(':'),
    );
    assert.deepEqual(ns.Networks.bridge?.IPAddress, ns.IPAddress);
    assert.equal(ns.SandboxKey, `/run/netns/${netnsName(id)}`);
    assert.deepEqual(ns.Ports, { '443/tcp': null }, "the image's exposed port, not published");

    // Inside: eth0 with the address and MAC, up; lo up; the default route via the gateway.
    const addr = await exec('alpha', ['busybox', 'ip', '-o', 'addr', 'show']);
    assert.match(addr, new RegExp(`eth0\\s+inet ${ns.IPAddress.replace(/\./g, '\\.')}/28 `));
    assert.match(addr, /lo\s+inet 127\.0\.0\.1\/8/);
    assert.match(await exec('alpha', ['cat', '/sys/class/net/eth0/address']), new RegExp(`^${ns.MacAddress}\\n$`));
    assert.deepEqual(readdirOf(await exec('alpha', ['ls', '/sys/class/net'])), ['eth0', 'lo']);
    // /proc/net/route: Iface Destination Gateway ... in little-endian hex.
    const route = (await exec('alpha', ['cat', '/proc/net/route'])).split('\n').find((l) => /^eth0\s+00000000\s/.test(l));
    assert.ok(route, 'a default route on eth0');
    const gw = route.split(/\s+/)[2];
    assert.equal(gw, Buffer.from(gateway.split('.').map(Number)).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0'));

    // On the host: the veth is on the test's bridge, the namespace is listed, the rules are in place.
    assert.match(ipLinks(), new RegExp(`${vethName(id)}@\\S+.*master ${bridge} state UP`));
    assert.ok(netnsList().includes(netnsName(id)));
    const rules = rulesInSave(iptablesSave(), bridge);
    assert.ok(
      rules.some((r) => r.includes(`-s ${subnet} ! -o ${bridge}`) && r.endsWith('-j MASQUERADE')),
      rules.join('\n'),
    );
    assert.ok(
      rules.some((r) => r.startsWith(`-A FORWARD -i ${bridge} `) && r.endsWith('-j ACCEPT')),
      rules.join('\n'),
    );
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
  });

  it('containers reach each other by name and short id; /etc/hosts follows starts and stops', async () => {
    const beta = await runD(['--name', 'beta', s.ref, ...httpd('hello-from-beta')]);
    const betaIp = (await inspect(beta)).NetworkSettings.IPAddress;
    const hosts = await exec('alpha', ['cat', '/etc/hosts']);
    assert.match(hosts, new RegExp(`^${betaIp.replace(/\./g, '\\.')}\\tbeta ${beta.slice(0, 12)}$`, 'm'), hosts);
    const alphaIp = (await inspect('alpha')).NetworkSettings.IPAddress;
    assert.match(await exec('beta', ['cat', '/etc/hosts']), new RegExp(`^${alphaIp.replace(/\./g, '\\.')}\\talpha `, 'm'));
    const page = await eventually('beta answering alpha by name', async () => {
      // (busybox-static's wget crashes with -q or -T; its progress goes to stderr anyway)
      const r = await cli(['exec', 'alpha', 'wget', '-O', '-', 'http://beta/']);
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.equal(page, 'hello-from-beta\n');
    assert.equal(await exec('alpha', ['wget', '-O', '-', `http://${beta.slice(0, 12)}/`]), 'hello-from-beta\n');
    assert.match(await exec('beta', ['busybox', 'ping', '-c', '1', '-W', '2', 'alpha']), /1 packets received/);

    ok(await cli(['stop', '-t', '1', 'beta']), 'stop beta');
    assert.doesNotMatch(await exec('alpha', ['cat', '/etc/hosts']), /\tbeta /, 'a stopped container is no longer listed');
    noNetworkLeft(beta);
    assert.equal(addressOf(beta), betaIp, 'a stopped container keeps its address');
    ok(await cli(['start', 'beta']), 'start beta');
    assert.equal((await inspect(beta)).NetworkSettings.IPAddress, betaIp, 'and gets it again');
    assert.match(await exec('alpha', ['cat', '/etc/hosts']), /\tbeta /);
    ok(await cli(['rm', '-f', 'beta']), 'rm beta');
    noNetworkLeft(beta);
    assert.equal(addressOf(beta), undefined, 'rm releases the address');
  });

  it("outbound traffic leaves through NAT: a peer outside the bridge sees the host's address", async () => {
    // "Outside" is a namespace this test makes, behind a veth of the host with a /30 taken from the
    // test's /24 (the bridge has its first /28): leaving the host through it, a container's
    // connection is masqueraded to the host's address there.
    const [a, b, c] = subnet.split('.').map(Number);
    const hostSide = `${a}.${b}.${c}.129`;
    const outside = `${a}.${b}.${c}.130`;
    const ns = `bt-out-${process.pid}`;
    const veth = `vo${process.pid}`.slice(0, 15);
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = registerCleanup(() => removeOutside());
    const removeOutside = () => {
      if (existsSync(`/sys/class/net/${veth}`)) ip('link', 'del', 'dev', veth);
      if (existsSync(`/run/netns/${ns}`)) ip('netns', 'del', ns);
    };
    let server: ReturnType<typeof spawn> | undefined;
    try {
      ip('netns', 'add', ns);
      ip('link', 'add', 'name', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('addr', 'add', `${hostSide}/30`, 'dev', veth);
      ip('link', 'set', 'dev', veth, 'up');
      ip('-n', ns, 'addr', 'add', `${outside}/30`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'up');
      // A server in the outside namespace that answers each connection with the address it comes from.
      server = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          '-e',
          `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(7000, '${outside}')`,
        ],
        {
          stdio: 'ignore',
        },
      );
      trackChild(server);
      const seen = await eventually('an answer from outside', async () => {
        const r = await cli(['exec', 'alpha', 'nc', outside, '7000']);
        return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
      });
      assert.equal(seen, hostSide, 'the connection arrived from the host, not from the container');
      assert.notEqual(seen, (await inspect('alpha')).NetworkSettings.IPAddress);
    } finally {
      if (server) await stopChild(server);
      removeOutside();
      unregister();
    }
  });

  it('a published TCP port answers the host on 127.0.0.1; ps, port and inspect show it', async () => {
    const id = await runD(['--name', 'web', '-p', '80', s.ref, ...httpd('hello-host')]);
    const c = await inspect(id);
    const bound = c.NetworkSettings.Ports['80/tcp'];
    assert.ok(bound && bound.length === 1, JSON.stringify(c.NetworkSettings.Ports));
    assert.equal(bound[0].HostIp, '127.0.0.1');
    const port = Number(bound[0].HostPort);
    assert.ok(port > 0);
    assert.deepEqual(c.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '' }] });
    assert.deepEqual(c.Config.ExposedPorts, { '443/tcp': {}, '80/tcp': {} });
    const answer = await eventually('the published port answering', async () => {
      const a = await httpGet(port);
      return a.includes('hello-host') ? a : undefined;
    });
    assert.match(answer, /^HTTP\/1\.[01] 200 /);
    const list = (await s.conn.sendRequest(ListContainersRequest.type, {})) as ContainerSummary[];
    assert.deepEqual(list.find((x) => x.Id === id)?.Ports, [
      { IP: '127.0.0.1', PrivatePort: 80, PublicPort: port, Type: 'tcp' },
      { PrivatePort: 443, Type: 'tcp' },
    ]);
    const ps = ok(await cli(['ps']), 'ps').stdout.split('\n');
    assert.match(ps[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.match(ps.find((l) => l.startsWith(id.slice(0, 12)))!, new RegExp(`\\s127\\.0\\.0\\.1:${port}->80/tcp, 443/tcp\\s+web$`));
    assert.equal(ok(await cli(['port', 'web']), 'port').stdout, `80/tcp -> 127.0.0.1:${port}\n`);
    assert.equal(ok(await cli(['port', 'web', '80']), 'port 80').stdout, `127.0.0.1:${port}\n`);
    const miss = await cli(['port', 'web', '443']);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /No public port '443\/tcp' published for web/);

    // Stopped: the port is closed, and nothing is published.
    ok(await cli(['stop', '-t', '1', 'web']), 'stop web');
    await assert.rejects(httpGet(port), /ECONNREFUSED/);
    assert.deepEqual((await inspect(id)).NetworkSettings.Ports, {});
    assert.equal((await inspect(id)).NetworkSettings.IPAddress, '');
  });

  it('a published UDP port answers the host', async () => {
    const id = await runD(['--name', 'udp', '-p', '127.0.0.1::5353/udp', '-v', `${udpDir}:/opt/udp:ro`, s.ref, '/opt/udp/udpecho', '5353']);
    const bound = (await inspect(id)).NetworkSettings.Ports['5353/udp'];
    assert.ok(bound?.[0], 'published');
    const port = Number(bound[0].HostPort);
    const reply = await eventually('a UDP answer', () => udpAsk(port, 'ping'), 50);
    assert.equal(reply, 'echo:ping');
    assert.equal(await udpAsk(port, 'again'), 'echo:again', 'the same flow answers again');
  });

  it('a host port already in use fails the start with a clear error and leaves nothing behind', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const { Id } = await s.conn.sendRequest(CreateContainerRequest.type, {
        image: s.ref,
        name: 'clash',
        ports: [`${port}:80`],
        cmd: ['sleep', '600'],
      });
      ids.add(Id);
      await expectAgentError(
        s.conn.sendRequest(StartContainerRequest.type, { container: Id }),
        ErrorCode.Conflict,
        new RegExp(`^start container: port 127\\.0\\.0\\.1:${port}/tcp is already in use$`),
      );
      const c = await inspect(Id);
      assert.equal(c.State.Status, 'created');
      assert.match(c.State.Error, /already in use/);
      noNetworkLeft(Id);
      assert.deepEqual(cgroupLeft(Id), []);
      // The CLI says the same, with exit code 1.
      const r = await cli(['start', 'clash']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${port}/tcp is already in use`));
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    // Once the port is free, the same container starts.
    ok(await cli(['start', 'clash']), 'start once the port is free');
    assert.equal((await inspect('clash')).NetworkSettings.Ports['80/tcp']?.[0]?.HostPort, String(port));
    ok(await cli(['rm', '-f', 'clash']), 'rm clash');
  });

  it("--network none has only lo; --network host sees the host's interfaces and files", async () => {
    const none = ok(
      await cli(['run', '--rm', '--network', 'none', s.ref, 'sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/operstate /etc/hosts']),
      'run none',
    );
    assert.match(none.stdout, /^lo\n(unknown|up)\n127\.0\.0\.1\tlocalhost\n/);
    const id = await runD(['--network', 'none', s.ref, 'sleep', '600']);
    const c = await inspect(id);
    assert.equal(c.HostConfig.NetworkMode, 'none');
    assert.equal(c.NetworkSettings.IPAddress, '');
    assert.deepEqual(Object.keys(c.NetworkSettings.Networks), ['none']);
    assert.equal(addressOf(id), undefined, 'no address allocated');
    assert.ok(!netnsList().includes(netnsName(id)), 'no persistent namespace');

    const before = new Set(readdirSync('/sys/class/net'));
    const host = ok(
      await cli(['run', '--rm', '--network', 'host', s.ref, 'sh', '-c', 'ls /sys/class/net; echo ---; cat /etc/hosts; echo ---; hostname']),
      'run host',
    );
    const after = new Set(readdirSync('/sys/class/net'));
    const [ifaces, hostsFile, name] = host.stdout.split('---\n');
    assert.equal(name.trim(), hostname(), 'it is named like the host, as Docker names it');
    const seen = new Set(readdirOf(ifaces));
    for (const i of before) if (after.has(i)) assert.ok(seen.has(i), `the container sees the host's ${i}`);
    assert.ok(seen.has(bridge), "including this test's bridge");
    assert.equal(hostsFile, readFileSync('/etc/hosts', 'utf8'));
  });

  it('bad -p and --network values are clear errors and create nothing', async () => {
    const count = async () => ((await s.conn.sendRequest(ListContainersRequest.type, { all: true })) as ContainerSummary[]).length;
    const n0 = await count();
    const cases: [string[], RegExp][] = [
      [['-p', '80/sctp'], /invalid port spec "80\/sctp": protocol "sctp" is not tcp or udp/],
      [['-p', '0:80'], /invalid port spec "0:80": host port 0 is out of range/],
      [['-p', '8080:99999'], /container port 99999 is out of range/],
      [['-p', 'a.b.c.d:80:80'], /"a\.b\.c\.d" is not an IPv4 address/],
      [['-p', '1-3:1-2'], /differ in length/],
      [['-p', '9000:80', '-p', '9000:81'], /host port 127\.0\.0\.1:9000\/tcp is published twice/],
      [['--network', 'overlay'], /network "overlay" is not one of bridge, host, none/],
      [['--network', 'host', '-p', '80'], /published ports \(-p\) need the bridge network/],
    ];
    for (const [flags, re] of cases) {
      const r = await cli(['run', '-d', ...flags, s.ref, 'true']);
      assert.equal(r.code, 1, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, flags.join(' '));
      assert.match(r.stderr, /create container: /);
    }
    await expectAgentError(
      s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, ports: ['80:80:80:80'] }),
      ErrorCode.InvalidArgument,
      /too many ":"/,
    );
    await expectAgentError(
      s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, ports: 'x' as never }),
      ErrorCode.InvalidArgument,
      /"ports" must be an array of strings/,
    );
    await expectAgentError(
      s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, networkMode: 7 as never }),
      ErrorCode.InvalidArgument,
      /"networkMode" must be a string/,
    );
    assert.equal(await count(), n0, 'no container was created');
  });

  it('a full subnet is a clear error; rm frees the addresses', async () => {
    const made: string[] = [];
    let err: Error | undefined;
    for (let i = 0; i < 14 && !err; i++) {
      try {
        made.push((await s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, cmd: ['true'] })).Id);
      } catch (e) {
        err = e as Error;
      }
    }
    for (const m of made) ids.add(m);
    assert.ok(err, 'the 13-address subnet ran out');
    assert.equal((err as unknown as { code: number }).code, ErrorCode.Conflict);
    assert.match(
      err.message,
      new RegExp(
        `^create container: no free address in the default network's subnet ${subnet.replace(/\./g, '\\.')} \\(13 containers hold its 13 addresses\\)`,
      ),
    );
    for (const m of made) await s.conn.sendRequest(RemoveContainerRequest.type, { container: m });
    assert.ok(made.every((m) => addressOf(m) === undefined));
    const { Id } = await s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, cmd: ['true'] });
    ids.add(Id);
    assert.ok(addressOf(Id), 'there is room again');
    await s.conn.sendRequest(RemoveContainerRequest.type, { container: Id });
  });

  it('across an agent restart: a running container keeps its address and published port; one that exited meanwhile leaves no namespace', async () => {
    const id = await runD(['--name', 'survivor', '-p', '80', s.ref, ...httpd('still-here')]);
    const before = await inspect(id);
    const port = Number(before.NetworkSettings.Ports['80/tcp']![0].HostPort);
    await eventually('the published port answering', async () => ((await httpGet(port)).includes('still-here') ? true : undefined));
    const brief = await runD(['--name', 'brief', s.ref, 'sleep', '600']);
    const briefPid = (await inspect(brief)).State.Pid;
    assert.ok(briefPid > 1);
    await s.agent.stop({ keepNetwork: true });
    try {
      await assert.rejects(httpGet(port), /ECONNREFUSED/, 'the proxy went with the agent');
      process.kill(briefPid, 'SIGKILL'); // the container's init, by its pid
      await eventually('brief to exit', async () => (existsSync(`/proc/${briefPid}`) ? undefined : true));
      assert.ok(existsSync(`/run/netns/${netnsName(brief)}`), 'its namespace outlived it: no agent was there to delete it');
    } finally {
      // Always an agent again, so cleanup can remove the containers.
      s.agent = await startAgent({ root, env: { BERTH_SUBNET: subnet } });
      s.conn = await s.agent.connect();
    }
    assert.equal((await inspect(brief)).State.Status, 'exited');
    noNetworkLeft(brief);
    assert.ok(addressOf(brief), 'it keeps its address until rm');
    const after = await inspect(id);
    assert.equal(after.State.Status, 'running', s.agent.log());
    assert.equal(after.NetworkSettings.IPAddress, before.NetworkSettings.IPAddress);
    assert.deepEqual(after.NetworkSettings.Ports, before.NetworkSettings.Ports, 'the same host port');
    assert.match(await httpGet(port), /still-here/);
    assert.match(await exec('alpha', ['cat', '/etc/hosts']), /\tsurvivor /, 'hosts files still list it');
    ok(await cli(['rm', '-f', 'survivor']), 'rm survivor');
    noNetworkLeft(id);
  });

  it("another agent configured with this agent's bridge is refused, instead of handing out colliding addresses", async () => {
    const [a, b, c] = subnet.split('.').map(Number);
    const other = await startAgent({ env: { BERTH_BRIDGE: bridge, BERTH_SUBNET: `${a}.${b}.${c}.16/28` } });
    try {
      const oc = await other.connect();
      await oc.sendRequest(PullRequest.type, { reference: s.ref });
      const { Id } = await oc.sendRequest(CreateContainerRequest.type, { image: s.ref, cmd: ['sleep', '60'] });
      await expectAgentError(
        oc.sendRequest(StartContainerRequest.type, { container: Id }),
        ErrorCode.Conflict,
        new RegExp(
          `^start container: bridge ${bridge} is the default network of another Berth agent \\(${root.replace(/[/.]/g, '\\$&')}\\); give this agent another bridge`,
        ),
      );
      noNetworkLeft(Id);
      assert.match(await exec('alpha', ['cat', '/etc/hosts']), /^127\.0\.0\.1\tlocalhost$/m, 'this agent is unaffected');
    } finally {
      await other.stop({ keepNetwork: true }); // the bridge is this test agent's: its stop removes it
    }
  });

  it("rm leaves no veth, namespace or address; the running containers' rules stay until the agent stops", async () => {
    const id = await runD(['--name', 'gone', '-p', '80', s.ref, 'sleep', '600']);
    assert.ok(netnsList().includes(netnsName(id)));
    assert.ok(addressOf(id));
    ok(await cli(['rm', '-f', 'gone']), 'rm -f');
    noNetworkLeft(id);
    assert.equal(addressOf(id), undefined);
    assert.ok(rulesInSave(iptablesSave(), bridge).length >= 4, 'the bridge rules stay while the agent runs');
  });
});

function readdirOf(lsOutput: string): string[] {
  return lsOutput.split('\n').filter(Boolean).sort();
}
