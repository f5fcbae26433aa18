/**
 * The agent killed with SIGKILL at random points of a pull, a container start and a commit, then
 * restarted on the same store: `berth check` passes and the operation, repeated, succeeds. The
 * points are drawn from a seeded generator; the seed is printed (and taken from
 * BERTH_FAULT_SEED), so a failure can be replayed exactly. BERTH_FAULT_ROUNDS sets the rounds per
 * operation (default 4; `npm run test:soak` runs many more).
 *
 * And a full disk during unpack: an agent whose store root is a small tmpfs (mounted in a private
 * mount namespace that only the agent lives in, so the host's mount table is never touched and
 * the mount goes with the agent) pulls an image bigger than the space left: a clear ENOSPC error
 * naming the path, nothing corrupt (check passes), and a smaller image still pulls after it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  CommitContainerRequest,
  CreateContainerRequest,
  ErrorCode,
  InspectContainerRequest,
  InspectImageRequest,
  PullRequest,
  StartContainerRequest,
  StopContainerRequest,
  WaitContainerRequest,
  type StoreCheckResult,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { cgroupLeft, removeAllContainers } from '../support/containers';
import { expectAgentError } from '../support/expect';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { buildImage, buildLayer, busyboxImage, busyboxLayer, featureImage, type BuiltImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { prng } from '../support/schemaValues';
import { makeTempDir, requireTools, runCleanups } from '../support/tmp';

const SEED = process.env.BERTH_FAULT_SEED ? Number(process.env.BERTH_FAULT_SEED) >>> 0 : randomBytes(4).readUInt32LE(0);
const ROUNDS = Math.min(Math.max(Number(process.env.BERTH_FAULT_ROUNDS ?? 4) || 4, 1), 200);
console.log(`faults-kill: seed ${SEED}, ${ROUNDS} rounds per operation (replay: BERTH_FAULT_SEED=${SEED} BERTH_FAULT_ROUNDS=${ROUNDS})`);

const random = prng(SEED);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const replay = () => `(seed ${SEED}: replay with BERTH_FAULT_SEED=${SEED} BERTH_FAULT_ROUNDS=${ROUNDS})`;

async function exited(agent: TestAgent): Promise<void> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  await new Promise((r) => agent.child.once('exit', r));
}

/** Sends SIGKILL to the agent `ms` after now, and resolves once it is dead. */
async function killAfter(agent: TestAgent, ms: number): Promise<void> {
  await sleep(ms);
  process.kill(agent.child.pid!, 'SIGKILL');
  await exited(agent);
}

/** `berth check` must pass: exit 0, no problem. */
async function checkPasses(agent: TestAgent, what: string): Promise<StoreCheckResult> {
  const r = await berth(['check', '--format', 'json'], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
  const res = JSON.parse(r.stdout || '{"problems":[]}') as StoreCheckResult;
  assert.equal(r.code, 0, `${what}: berth check found problems ${replay()}:\n${JSON.stringify(res.problems, null, 1)}\n${r.stderr}`);
  return res;
}

/** Runs `op`, kills the agent at `delay` ms, and says whether the op finished first. */
async function killDuring(agent: TestAgent, delay: number, op: Promise<unknown>): Promise<'finished' | 'killed'> {
  const settled = op.then(
    () => 'finished' as const,
    () => 'killed' as const,
  );
  await killAfter(agent, delay);
  return settled;
}

describe('the agent killed at random points', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let feature: BuiltImage;
  const agents: TestAgent[] = [];
  const containerIds = new Set<string>();

  const restart = async (root: string) => {
    const a = await startAgent({ root });
    agents.push(a);
    return a;
  };

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    feature = await featureImage();
    await pushImage(registry, 'kill/feature', 'v1', feature);
    await pushImage(registry, 'kill/box', 'v1', await busyboxImage());
    proxy = await startFaultProxy(registry.host);
    // Slow enough that a pull is spread over a second or so and the kills land in every phase.
    proxy.fault = (req) => (req.path.includes('/blobs/') ? { kind: 'throttle', bytesPerSecond: 2 * 1024 * 1024 } : undefined);
  });

  after(async () => {
    const live = agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null);
    for (const a of live) await removeAllContainers(await a.connect());
    await runCleanups();
    for (const id of containerIds) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for container ${id}`);
  });

  it('during a pull: the store stays consistent and the pull, repeated, completes', async () => {
    const ref = `${proxy.host}/kill/feature:v1`;
    // Calibrate: how long a whole pull takes here.
    const cal = await restart(await makeTempDir('berth-kill-'));
    const t0 = Date.now();
    await (await cal.connect()).sendRequest(PullRequest.type, { reference: ref });
    const span = Date.now() - t0;
    await cal.stop();
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const delay = Math.floor(random() * span * 1.1);
      const first = await restart(await makeTempDir('berth-kill-'));
      const conn = await first.connect();
      const outcome = await killDuring(first, delay, conn.sendRequest(PullRequest.type, { reference: ref }));
      outcomes.push(`${delay}ms:${outcome}`);
      const again = await restart(first.root);
      await checkPasses(again, `pull round ${round}, killed after ${delay} ms`);
      const c2 = await again.connect();
      const res = await c2.sendRequest(PullRequest.type, { reference: ref });
      assert.equal(res.image.Id, feature.configDigest, `the image pulled whole ${replay()}`);
      const inspect = await c2.sendRequest(InspectImageRequest.type, { reference: ref });
      assert.equal(inspect.RootFS.Layers.length, 3);
      await checkPasses(again, `pull round ${round}, after the repeated pull`);
      await again.stop();
    }
    console.log(`pull: whole pull ${span} ms; kill points ${outcomes.join(' ')}`);
  });

  it('during a container start: check passes, and the container starts again', async () => {
    const ref = `${registry.host}/kill/box:v1`;
    let agent = await restart(await makeTempDir('berth-kill-'));
    let conn: MessageConnection = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    const { Id: id } = await conn.sendRequest(CreateContainerRequest.type, {
      image: ref,
      name: 'killed-start',
      cmd: ['sh', '-c', 'echo up; exec sleep 60'],
    });
    containerIds.add(id);
    // Calibrate on starts that are not interrupted (the first one also warms caches: the last counts).
    let span = 0;
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      await conn.sendRequest(StartContainerRequest.type, { container: id });
      span = Date.now() - t0;
      await conn.sendRequest(StopContainerRequest.type, { container: id, timeout: 0 });
    }
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const delay = Math.floor(random() * span * 1.2);
      const outcome = await killDuring(agent, delay, conn.sendRequest(StartContainerRequest.type, { container: id }));
      outcomes.push(`${delay}ms:${outcome}`);
      agent = await restart(agent.root);
      conn = await agent.connect();
      await checkPasses(agent, `start round ${round}, killed after ${delay} ms`);
      // Whatever the kill left (running and adopted, or marked exited), it can be started again.
      const state = (await conn.sendRequest(InspectContainerRequest.type, { container: id })).State;
      if (state.Running) await conn.sendRequest(StopContainerRequest.type, { container: id, timeout: 0 });
      await conn.sendRequest(StartContainerRequest.type, { container: id });
      const now = await conn.sendRequest(InspectContainerRequest.type, { container: id });
      assert.equal(now.State.Running, true, `the container runs again ${replay()}`);
      await conn.sendRequest(StopContainerRequest.type, { container: id, timeout: 0 });
      await checkPasses(agent, `start round ${round}, after starting again`);
    }
    console.log(`start: whole start ${span} ms; kill points ${outcomes.join(' ')}`);
    await agent.stop();
  });

  it('during a commit: check passes, and the commit, repeated, makes the image', async () => {
    const ref = `${registry.host}/kill/box:v1`;
    let agent = await restart(await makeTempDir('berth-kill-'));
    let conn: MessageConnection = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    const { Id: id } = await conn.sendRequest(CreateContainerRequest.type, {
      image: ref,
      name: 'killed-commit',
      cmd: ['sh', '-c', 'echo payload > /payload && dd if=/dev/urandom of=/big bs=1024 count=4096 2>/dev/null'],
    });
    containerIds.add(id);
    await conn.sendRequest(StartContainerRequest.type, { container: id });
    const waited = await conn.sendRequest(WaitContainerRequest.type, { container: id });
    assert.equal(waited.StatusCode, 0);
    const t0 = Date.now();
    await conn.sendRequest(CommitContainerRequest.type, { container: id, reference: 'kill/committed:calibration' });
    const span = Date.now() - t0;
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const delay = Math.floor(random() * span * 1.2);
      const tag = `kill/committed:r${round}`;
      const outcome = await killDuring(agent, delay, conn.sendRequest(CommitContainerRequest.type, { container: id, reference: tag }));
      outcomes.push(`${delay}ms:${outcome}`);
      agent = await restart(agent.root);
      conn = await agent.connect();
      await checkPasses(agent, `commit round ${round}, killed after ${delay} ms`);
      const res = await conn.sendRequest(CommitContainerRequest.type, { container: id, reference: tag });
      const img = await conn.sendRequest(InspectImageRequest.type, { reference: res.Id });
      assert.equal(img.RootFS.Layers.length, 2, `base + the container's layer ${replay()}`);
      assert.ok(
        img.RepoTags.some((t) => t.endsWith(tag)),
        `${tag} names it`,
      );
      await checkPasses(agent, `commit round ${round}, after committing again`);
    }
    console.log(`commit: whole commit ${span} ms; kill points ${outcomes.join(' ')}`);
    // The committed image runs and holds the container's files.
    const r = await berth(['run', '--rm', `kill/committed:r${ROUNDS - 1}`, 'sh', '-c', 'cat /payload; stat -c %s /big'], {
      ...agent.env,
      BERTH_NO_AUTOSTART: '1',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `payload\n${4096 * 1024}\n`);
    await agent.stop();
  });
});

describe('a full disk during unpack', () => {
  after(runCleanups);

  it('ENOSPC is a clear error naming the path; nothing corrupt; a smaller image still pulls', async () => {
    requireTools(['docker-registry', 'tar', 'gzip', 'unshare', 'mount']);
    const registry = await startRegistry();
    // 24 MiB of random bytes: incompressible, so the blob is as big as what it unpacks to.
    const big = await buildLayer([{ type: 'file', path: '/big.bin', content: randomBytes(24 * 1024 * 1024) }], { compression: 'gzip' });
    await pushImage(registry, 'disk/big', 'v1', buildImage({ layers: [await busyboxLayer(), big] }));
    await pushImage(registry, 'disk/box', 'v1', await busyboxImage());
    // The store root is a 40 MiB tmpfs mounted in the agent's own mount namespace: the blob (24 MiB)
    // fits, its unpacked copy beside it does not.
    const root = await makeTempDir('berth-fulldisk-');
    const sockDir = await makeTempDir('berth-fulldisk-sock-');
    const agent = await startAgent({
      root,
      socket: `${sockDir}/agent.sock`,
      launcher: [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount -t tmpfs -o size=40m,mode=0711 berth-test-full "$0" && exec "$@"',
        root,
      ],
    });
    const conn = await agent.connect();
    const err = await expectAgentError(
      conn.sendRequest(PullRequest.type, { reference: `${registry.host}/disk/big:v1` }),
      ErrorCode.System,
      /ENOSPC/,
    );
    assert.equal(err.data.errno, 'ENOSPC');
    assert.ok(typeof err.data.path === 'string' && err.data.path.startsWith(root), `the error names a path in the store: ${err.data.path}`);
    assert.match(err.message, /disk holding the Berth store is full/);
    const res = await checkPasses(agent, 'after ENOSPC');
    assert.equal(res.summary.images, 0, 'no image was recorded');
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/disk/box:v1` });
    const after = await checkPasses(agent, 'after the smaller pull');
    assert.equal(after.summary.images, 1);
    await agent.stop();
  });
});
