/**
 * The merged view of an image as Berth stores it (its layer directories stacked by the kernel's
 * overlayfs, mounted in a private mount namespace) must match, file by file, what `umoci unpack`
 * makes of the same image: type, mode, owner, size, content, link target, device numbers, xattrs,
 * hardlinks and mtimes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { InspectImageRequest, PullRequest } from '../../protocol';
import { startAgent, type TestAgent } from '../support/agent';
import { busyboxImage, FEATURE, featureImage } from '../support/images';
import { snapshotOverlay } from '../support/overlay';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { diffTrees, snapshotTree } from '../support/tree';
import { requireTools, runCleanups } from '../support/tmp';
import { unpackWithUmoci } from '../support/umoci';

describe('Berth and umoci unpack images identically', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;

  before(async () => {
    requireTools();
    registry = await startRegistry();
    await pushImage(registry, 'cmp/feature', 'v1', await featureImage());
    await pushImage(registry, 'cmp/feature-docker', 'v1', await featureImage({ flavour: 'docker' }));
    await pushImage(registry, 'cmp/busybox', 'v1', await busyboxImage());
    agent = await startAgent();
    conn = await agent.connect();
  });
  after(runCleanups);

  for (const repo of ['cmp/feature', 'cmp/feature-docker', 'cmp/busybox']) {
    it(`${repo}: merged overlay view == umoci rootfs`, async () => {
      const res = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/${repo}:v1` });
      const inspect = await conn.sendRequest(InspectImageRequest.type, { reference: res.image.Id });
      const lowersTopFirst = inspect.Berth.Layers.map((l) => l.Path).reverse();
      const ours = await snapshotOverlay(lowersTopFirst);
      const umoci = await unpackWithUmoci(registry, repo, 'v1');
      try {
        const theirs = await snapshotTree(umoci.rootfs);
        // The root directory's own metadata comes from the bundle, not the image.
        const diffs = diffTrees(theirs, ours, { ignore: ['root'], labels: ['umoci', 'berth'] });
        assert.deepEqual(diffs, [], `differences:\n${diffs.join('\n')}`);
        assert.ok(Object.keys(ours).length > 50, 'the comparison covered the image');
        if (repo !== 'cmp/busybox') {
          // Spot checks that the comparison saw the hard cases at all.
          assert.equal(ours[FEATURE.setuid].mode, 0o4755);
          for (const gone of FEATURE.deleted) assert.equal(ours[gone], undefined, `${gone} should be deleted`);
          assert.equal(ours['/srv/opaque/old1'], undefined);
          assert.ok(ours[FEATURE.hardlinks[1]].hardlinkGroup);
        }
      } finally {
        await umoci.cleanup();
      }
    });
  }
});
