/**
 * Load, bounded in time and cleaned up:
 *   - 20 clients pulling the same image at once: each blob crosses the wire once (requests
 *     counted at a proxy in front of the registry), and all 20 get the same image;
 *   - a container writing 10,000 log lines a second for 3 seconds: a client following the logs
 *     live gets every line in order by the time the container's exit is reported, and `logs`
 *     has them all: the agent does not fall behind or drop any;
 *   - 100 containers created, started and removed concurrently (BERTH_LOAD_CONTAINERS; `npm run
 *     test:soak` runs 300): every one runs, every one is removed, no cgroup or process is left.
 *     They use --network none: this measures the runtime, not the bridge network.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  ContainerLogsRequest,
  CreateContainerRequest,
  InspectContainerRequest,
  ListContainersRequest,
  LogLineNotification,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  WaitContainerRequest,
} from '../../protocol';
import { berth } from '../support/agent';
import { containerSuite } from '../support/suite';
import { cgroupLeft } from '../support/containers';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { featureImage, type BuiltImage } from '../support/images';
import { pushImage } from '../support/push';
import { alive } from '../support/tmp';

const CONTAINERS = Math.min(Math.max(Number(process.env.BERTH_LOAD_CONTAINERS ?? 100) || 100, 1), 500);

describe('load', () => {
  // Not pulled up front: the first test counts the downloads of a layer this image shares.
  const s = containerSuite({ repo: 'load/box', pull: false });
  let proxy: FaultProxy;
  let feature: BuiltImage;

  before(async () => {
    feature = await featureImage();
    await pushImage(s.registry, 'load/feature', 'v1', feature);
    proxy = await startFaultProxy(s.registry.host);
  });

  it('20 clients pulling one image at once download each blob once', async () => {
    // Throttled a little, so the 20 pulls really overlap.
    proxy.fault = (req) => (req.path.includes('/blobs/') ? { kind: 'throttle', bytesPerSecond: 4 * 1024 * 1024 } : undefined);
    const ref = `${proxy.host}/load/feature:v1`;
    const conns = await Promise.all(Array.from({ length: 20 }, () => s.agent.connect()));
    const results = await Promise.all(conns.map((c) => c.sendRequest(PullRequest.type, { reference: ref })));
    for (const r of results) assert.equal(r.image.Id, feature.configDigest);
    for (const l of feature.layers) {
      assert.equal(proxy.count(new RegExp(`/blobs/${l.digest}$`), 'GET'), 1, `layer ${l.digest.slice(7, 19)} downloaded once`);
    }
    assert.ok(
      proxy.count(new RegExp(`/blobs/${feature.configDigest}$`), 'GET') <= 1,
      `the config blob downloaded at most once: ${proxy.requests.map((r) => r.method + ' ' + r.path.slice(0, 60)).join('\n')}`,
    );
    for (const c of conns) c.dispose();
    proxy.fault = () => undefined;
    const check = await berth(['check'], { ...s.agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(check.code, 0, check.stdout);
  });

  it('10,000 log lines a second for 3 s: a live follower and `logs` get every line, in order', async () => {
    await s.conn.sendRequest(PullRequest.type, { reference: s.ref });
    // 30 bursts of 1,000 numbered lines, 0.1 s apart: 30,000 lines in about 3 s.
    const script = 'i=0; while [ $i -lt 30 ]; do seq $((i*1000+1)) $((i*1000+1000)); i=$((i+1)); sleep 0.1; done';
    const { Id: id } = await s.conn.sendRequest(CreateContainerRequest.type, {
      image: s.ref,
      name: 'chatty',
      cmd: ['sh', '-c', script],
      networkMode: 'none',
    });
    const follower = await s.agent.connect();
    const seen: string[] = [];
    follower.onNotification(LogLineNotification.type, (n) => {
      if (n.token === 'follow-chatty') seen.push(n.line.line);
    });
    await s.conn.sendRequest(StartContainerRequest.type, { container: id });
    const following = follower.sendRequest(ContainerLogsRequest.type, { container: id, follow: true, token: 'follow-chatty' });
    const t0 = Date.now();
    const exit = await s.conn.sendRequest(WaitContainerRequest.type, { container: id });
    const took = Date.now() - t0;
    assert.equal(exit.StatusCode, 0);
    await following; // answered after the last line
    const want = Array.from({ length: 30_000 }, (_, i) => String(i + 1));
    assert.equal(seen.length, 30_000, `the follower got every line (${seen.length})`);
    assert.deepEqual(seen, want, 'in order');
    const all = await s.conn.sendRequest(ContainerLogsRequest.type, { container: id });
    assert.equal(all.lines.length, 30_000);
    assert.deepEqual(
      all.lines.map((l) => l.line),
      want,
    );
    assert.ok(all.lines.every((l) => l.stream === 'stdout'));
    console.log(`logs: 30,000 lines in ${took} ms from start to the exit`);
    await s.conn.sendRequest(RemoveContainerRequest.type, { container: id, force: true });
    follower.dispose();
  });

  it(`${CONTAINERS} containers created, started and removed concurrently`, async () => {
    await s.conn.sendRequest(PullRequest.type, { reference: s.ref });
    const t0 = Date.now();
    const created = await Promise.all(
      Array.from({ length: CONTAINERS }, (_, i) =>
        s.conn.sendRequest(CreateContainerRequest.type, {
          image: s.ref,
          name: `load-${i}`,
          cmd: ['sh', '-c', `echo hello-${i}; exec sleep 60`],
          networkMode: 'none',
        }),
      ),
    );
    const ids = created.map((c) => c.Id);
    assert.equal(new Set(ids).size, CONTAINERS, 'every container has its own ID');
    await Promise.all(ids.map((id) => s.conn.sendRequest(StartContainerRequest.type, { container: id })));
    const tStarted = Date.now();
    const inspected = await Promise.all(ids.map((id) => s.conn.sendRequest(InspectContainerRequest.type, { container: id })));
    assert.ok(
      inspected.every((c) => c.State.Running),
      'all running',
    );
    const pids = inspected.map((c) => c.State.Pid);
    assert.equal(new Set(pids).size, CONTAINERS, 'each its own process');
    const running = await s.conn.sendRequest(ListContainersRequest.type, {});
    assert.equal(running.filter((c) => c.Names.some((n) => n.startsWith('/load-'))).length, CONTAINERS);
    await Promise.all(ids.map((id) => s.conn.sendRequest(RemoveContainerRequest.type, { container: id, force: true })));
    const tRemoved = Date.now();
    console.log(`${CONTAINERS} containers: created and started in ${tStarted - t0} ms, removed in ${tRemoved - tStarted} ms`);
    assert.deepEqual(
      (await s.conn.sendRequest(ListContainersRequest.type, { all: true })).filter((c) => c.Names.some((n) => n.startsWith('/load-'))),
      [],
    );
    for (const id of ids) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
    for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(pids.filter(alive), [], 'every container process is gone');
  });
});
