/**
 * The peer implementation tests compare Berth against: skopeo copies an image from the test
 * registry into an OCI layout, umoci unpacks it (as root, so owners, devices and xattrs are real).
 */
import { join } from 'node:path';
import { makeTempDir, removeTempDir, requireTools, run } from './tmp';
import type { TestRegistry } from './registry';

/** An image unpacked by umoci. */
export interface UmociUnpacked {
  /** The root filesystem: <bundle>/rootfs. */
  rootfs: string;
  /** The runtime bundle umoci wrote (config.json, umoci.json, the mtree manifest, rootfs/). */
  bundle: string;
  /** The OCI image layout skopeo wrote. */
  layout: string;
  /** Removes all of it. */
  cleanup(): Promise<void>;
}

/** Options for {@link unpackWithUmoci}. */
export interface UmociOptions {
  /**
   * Have skopeo recompress every layer to gzip on the way into the layout
   * (`--dest-compress --dest-compress-format gzip`). umoci 0.4.7 refuses zstd layers ("blob is not
   * correct mediatype"), so zstd images need this; the unpacked rootfs is the same.
   */
  gzipLayers?: boolean;
}

/**
 * `skopeo copy docker://HOST/REPO:TAG oci:LAYOUT:TAG` (plain HTTP, with the registry's first user's
 * credentials when it has auth; multi-platform indexes resolve to the host's platform), then
 * `umoci unpack --image LAYOUT:TAG BUNDLE`. Everything lives in one temp dir.
 */
export async function unpackWithUmoci(registry: TestRegistry, repo: string, tag: string, opts: UmociOptions = {}): Promise<UmociUnpacked> {
  requireTools(['skopeo', 'umoci']);
  const dir = await makeTempDir('berth-umoci-');
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  try {
    const creds = registry.username !== undefined ? ['--src-creds', `${registry.username}:${registry.password ?? ''}`] : ['--src-no-creds'];
    await run(
      'skopeo',
      [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        ...creds,
        ...(opts.gzipLayers ? ['--dest-compress', '--dest-compress-format', 'gzip'] : []),
        `docker://${registry.host}/${repo}:${tag}`,
        `oci:${layout}:${tag}`,
      ],
      { timeoutMs: 120_000, env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'no-auth.json') } },
    );
    await run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], { timeoutMs: 120_000 });
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
  return { rootfs: join(bundle, 'rootfs'), bundle, layout, cleanup: () => removeTempDir(dir) };
}
