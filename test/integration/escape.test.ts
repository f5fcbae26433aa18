/**
 * Container escape checks: the probe (test/probe/probe.c, `probe escape ...`) tries, from inside
 * a real container, to reach the host's files (a marker file this test created, by path, through
 * /proc/1/root, ../.., a chroot climb, open_by_handle_at), its processes (the agent's pid:
 * /proc, kill, ptrace), its mounts (mounting proc, sysfs, tmpfs, cgroup2, remounting /proc/sys),
 * its cgroups (writing limits, creating groups), the agent's socket, kernel modules, a block
 * device node of the host's disk, and the host's hostname. Every attempt must fail, and the host
 * must be as it was: the marker untouched, the hostname the same, the agent still serving.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ListContainersRequest, PullRequest, VersionRequest } from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { parseProbe, probeBinary, probeImage, type ProbeAttempt, type ProbeReport } from '../support/probe';
import { pushImage } from '../support/push';
import { startRegistry } from '../support/registry';
import { makeTempDir, requireTools, run, runCleanups } from '../support/tmp';

/** Attempts the probe must make every time (so a probe that skipped them cannot pass). */
const REQUIRED = [
  'read host file by its path',
  'read host file via /proc/1/root',
  'read host file via ../..',
  'read host file via /proc/self/cwd/..',
  'chroot escape to the host file',
  'read host file via /proc/HOSTPID/root',
  'see host process in /proc',
  'signal host process',
  'ptrace host process',
  'ptrace pid 1',
  'open_by_handle_at',
  'mount proc',
  'mount sysfs',
  'mount tmpfs',
  'mount cgroup2',
  'remount /proc/sys read-write',
  'write v1 memory limit',
  'write v1 pids limit',
  'write v2 memory limit',
  'write v2 pids limit',
  'create v1 cgroup',
  'create v2 cgroup',
  'connect to the agent socket',
  'connect to the agent socket via /proc/1/root',
  'init_module',
  'finit_module',
  'delete_module',
  'mknod block device',
  'sethostname',
  'unshare mount namespace',
];

describe('escape attempts from inside a container all fail', () => {
  let agent: TestAgent;
  let conn: MessageConnection;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let marker: string;
  let secret: string;
  const hostName = hostname();

  before(async () => {
    requireTools(['docker-registry', 'gcc', 'tar', 'gzip']);
    const registry = await startRegistry();
    await pushImage(registry, 'probe/escape', 'v1', await probeImage());
    ref = `${registry.host}/probe/escape:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    const dir = await makeTempDir('berth-escape-marker-');
    marker = join(dir, 'marker');
    secret = `host-secret-${randomBytes(8).toString('hex')}\n`;
    writeFileSync(marker, secret, { mode: 0o644 });
  });

  after(async () => {
    await removeAllContainers(agent ? conn : undefined);
    await runCleanups();
  });

  const escapeArgs = () => ['escape', `marker=${marker}`, `hostpid=${agent.child.pid}`, `socket=${agent.socket}`, `hostname=${hostName}`];
  const tryEscape = async (flags: string[]): Promise<ProbeReport> => {
    const r = await berth(['run', '--rm', ...flags, ref, '/probe', ...escapeArgs()], env, 60_000);
    assert.equal(r.code, 0, `berth run ${flags.join(' ')} probe escape: exit ${r.code}\nstderr: ${r.stderr}`);
    return parseProbe(r.stdout);
  };

  /** Every attempt failed with an errno, except the ones that reach only the container itself. */
  const assertContained = (r: ProbeReport, who: string): void => {
    const attempts = r.escapes ?? [];
    const byName = new Map(attempts.map((a) => [a.attempt, a]));
    for (const name of REQUIRED) assert.ok(byName.has(name), `${who}: the probe tried "${name}"`);
    const breaches: ProbeAttempt[] = [];
    for (const a of attempts) {
      // A container's pid 1 is its own init: tracing it (allowed to root in the container, as in
      // Docker) reaches nothing outside. What must hold is that pid 1 IS the container's.
      if (a.attempt === 'ptrace pid 1') {
        assert.equal(a.pid1comm, 'probe', `${who}: pid 1 inside is the container's own process`);
        continue;
      }
      // mknod of a block device is allowed (Docker's CAP_MKNOD, the devices cgroup's "b *:* m");
      // opening the node is what must be refused.
      if (a.attempt === 'mknod block device' && a.ok) {
        const open = byName.get('open block device');
        assert.ok(open, `${who}: the probe tried to open the node it made`);
        assert.equal(
          open.ok,
          false,
          `${who}: opening the host's disk ${a.device} (${a.major}:${a.minor}) is refused: ${JSON.stringify(open)}`,
        );
        continue;
      }
      if (a.ok) breaches.push(a);
      else assert.match(a.errno ?? '', /^E[A-Z0-9]+$/, `${who}: "${a.attempt}" failed with an errno: ${JSON.stringify(a)}`);
    }
    assert.deepEqual(breaches, [], `${who}: attempts that succeeded`);
    // Nothing the probe read carries the marker's secret.
    assert.ok(!JSON.stringify(r).includes(secret.trim()), `${who}: the host secret never reached the container`);
    assert.deepEqual(r.processes, [{ pid: 1, comm: 'probe' }], `${who}: only the container's own process is visible`);
  };

  it('as root in a default container', async () => {
    const before = statSync(marker);
    const r = await tryEscape([]);
    assertContained(r, 'root');
    // The errnos that say why, where they are certain on any host.
    const errnoOf = (n: string) => r.escapes!.find((a) => a.attempt === n)!.errno;
    assert.equal(errnoOf('read host file by its path'), 'ENOENT', 'the host path does not exist in the container');
    assert.equal(errnoOf('chroot escape to the host file'), 'ENOENT', 'the chroot climb stops at the container root');
    assert.equal(errnoOf('signal host process'), 'ESRCH');
    assert.equal(errnoOf('ptrace host process'), 'ESRCH');
    assert.equal(errnoOf('open_by_handle_at'), 'EPERM', 'no CAP_DAC_READ_SEARCH');
    assert.equal(errnoOf('mount proc'), 'EPERM', 'no CAP_SYS_ADMIN');
    assert.equal(errnoOf('sethostname'), 'EPERM');
    assert.equal(errnoOf('connect to the agent socket'), 'ENOENT', 'the socket path does not exist in the container');
    assert.equal(r.escapes!.find((a) => a.attempt === 'sethostname')!.sameAsHost, false, 'the container has its own hostname');

    // The host is as it was.
    assert.equal(readFileSync(marker, 'utf8'), secret, 'the marker is untouched');
    const now = statSync(marker);
    assert.deepEqual([now.mtimeMs, now.size, now.mode], [before.mtimeMs, before.size, before.mode]);
    assert.equal(hostname(), hostName, 'the host hostname is unchanged');
    assert.equal((await conn.sendRequest(VersionRequest.type)).Pid, agent.child.pid, 'the agent still serves');
  });

  it('as a non-root user (-u 1000:1000)', async () => {
    const r = await tryEscape(['-u', '1000:1000']);
    assertContained(r, 'uid 1000');
    assert.equal(r.escapes!.find((a) => a.attempt === 'mknod block device')!.errno, 'EPERM', 'no CAP_MKNOD for a non-root user');
    assert.equal(readFileSync(marker, 'utf8'), secret);
  });

  it('the probe is not blind: without a container (private mount, pid and uts namespaces only) its attempts succeed', async () => {
    // Same binary, same parameters, run by unshare(1) as root on the host's filesystem: the
    // attempts that the container stops must succeed here, or the checks above prove nothing.
    const out = await run(
      'unshare',
      ['--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--uts', await probeBinary(), ...escapeArgs()],
      {
        timeoutMs: 30_000,
      },
    );
    const r = parseProbe(out.toString());
    const a = (n: string) => r.escapes!.find((x) => x.attempt === n)!;
    assert.deepEqual([a('read host file by its path').ok, a('read host file by its path').content], [true, secret]);
    assert.equal(a('chroot escape to the host file').ok, true);
    assert.equal(a('mount tmpfs').ok, true);
    assert.equal(a('open_by_handle_at').errno === 'EPERM', false, 'root on the host has CAP_DAC_READ_SEARCH');
    assert.throws(() => assertContained(r, 'uncontained'), /attempts that succeeded|secret/);
    assert.equal(hostname(), hostName, 'its sethostname changed only its own uts namespace');
  });

  it('with the capabilities users add most (--cap-add SYS_PTRACE --cap-add NET_ADMIN)', async () => {
    const r = await tryEscape(['--cap-add', 'SYS_PTRACE', '--cap-add', 'NET_ADMIN']);
    assertContained(r, 'cap-add');
    assert.equal(readFileSync(marker, 'utf8'), secret);
    assert.deepEqual(await conn.sendRequest(ListContainersRequest.type, { all: true }), [], 'every --rm container is gone');
  });
});
