/**
 * `--init`: Berth's own init (native/init/berth-init.c) as pid 1, run from a sealed memfd. It
 * starts the command as its child, forwards signals, reaps orphans and exits with the command's
 * status. Real containers through the CLI.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { InspectContainerRequest, PullRequest } from '../../protocol';
import { berth, startAgent, type CliResult, type TestAgent } from '../support/agent';
import { cgroupLeft, removeAllContainers } from '../support/containers';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('--init', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  const ids: string[] = [];
  const cli = (args: string[]) => berth(args, env);

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    await pushImage(registry, 'init/box', 'v1', await busyboxImage());
    ref = `${registry.host}/init/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
  });

  after(async () => {
    await removeAllContainers(agent ? conn : undefined);
    await runCleanups();
    for (const id of ids) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
  });

  it('pid 1 is the init from a sealed memfd, the command its child; exit codes pass through', async () => {
    const r = await cli(['run', '--rm', '--init', ref, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo "me $$"; readlink /proc/1/exe; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    const [cmdline, me, exe] = r.stdout.split('\n');
    assert.match(cmdline, /^berth-init \/bin\/sh sh -c /);
    assert.equal(me, 'me 2');
    assert.match(exe, /^\/memfd:berth-init/, 'run from the memfd, not a host path');
  });

  it('reaps orphans: no zombie is left while the command runs', async () => {
    // The inner shell exits at once; its background sleep is reparented to pid 1 and exits later.
    const r = ok(await cli(['run', '--rm', '--init', ref, 'sh', '-c', 'sh -c "sleep 0.2 & exit 0"; sleep 1; cat /proc/[0-9]*/stat | cut -d" " -f3 | grep -c Z || true']), 'run');
    assert.equal(r.stdout.trim(), '0');
  });

  it('forwards stop\'s SIGTERM to the command (a bare pid 1 would ignore it and be killed)', async () => {
    const id = ok(await cli(['run', '-d', '--init', ref, 'sleep', '600']), 'run -d').stdout.trim();
    ids.push(id);
    const info = await conn.sendRequest(InspectContainerRequest.type, { container: id });
    assert.equal(info.HostConfig.Init, true);
    ok(await cli(['stop', '-t', '30', id]), 'stop');
    const after = await conn.sendRequest(InspectContainerRequest.type, { container: id });
    assert.equal(after.State.ExitCode, 143, 'sleep died of SIGTERM (128+15), not of the SIGKILL after the timeout');
  });

  it('a command that does not exist fails the start as without an init', async () => {
    const r = await cli(['run', '--rm', '--init', ref, 'no-such-command']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exec "no-such-command": ENOENT \(no such command in the container\)/);
  });
});
