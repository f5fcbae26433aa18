/**
 * Real OCI / Docker schema2 test images built offline from /bin/busybox.
 *
 * A layer is a staging directory described declaratively ({@link StageEntry}), materialised in a temp
 * dir (as root: chown, mknod, xattrs) and archived by GNU tar in pax format with sorted names and
 * fixed mtimes, so the same description always gives the same digests. Whiteouts are ordinary
 * files named `.wh.<name>` / `.wh..wh..opq`, exactly as OCI layers carry them.
 *
 * Ready-made images: {@link busyboxImage}, {@link featureImage} (see {@link FEATURE} for what it
 * contains) and {@link multiPlatformIndex}.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { native } from '../../native';
import { makeTempDir, removeTempDir, run } from './tmp';

// ---------------------------------------------------------------------------------------------
// Media types and shapes
// ---------------------------------------------------------------------------------------------

/** Media types the builders use. */
export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  inToto: 'application/vnd.in-toto+json',
} as const;

/** How a layer's tar is compressed. */
export type Compression = 'gzip' | 'zstd' | 'none';
/** Which manifest family: OCI image-spec, or Docker's schema2 (no zstd there). */
export type Flavour = 'oci' | 'docker';

/** An OCI platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One built layer blob. */
export interface BuiltLayer {
  /** Digest of `bytes` (the blob as stored in the registry). */
  digest: string;
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  /** Bytes of `bytes`. */
  size: number;
  mediaType: string;
  compression: Compression;
  /** The blob (compressed unless `compression` is "none"). */
  bytes: Buffer;
  /** The uncompressed tar (same Buffer as `bytes` when uncompressed). */
  tar: Buffer;
  /** The history line that made it ("COPY ... /"). */
  createdBy: string;
}

/** A config's history entry. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** A built single-platform image: blobs plus manifest, all bytes ready to push. */
export interface BuiltImage {
  flavour: Flavour;
  platform: Platform;
  layers: BuiltLayer[];
  /** The config JSON bytes. */
  config: Buffer;
  configDigest: string;
  configMediaType: string;
  /** The manifest JSON bytes. */
  manifest: Buffer;
  manifestDigest: string;
  /** The manifest's media type. */
  mediaType: string;
}

/** A built multi-platform index (or Docker manifest list) and every image it names. */
export interface BuiltIndex {
  flavour: Flavour;
  /** The index JSON bytes. */
  index: Buffer;
  indexDigest: string;
  mediaType: string;
  /** The platform images, in index order. */
  images: BuiltImage[];
  /** The attestation manifest (platform unknown/unknown) referencing `images[0]`. */
  attestation: BuiltImage;
}

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

/** Every entry's mtime unless it sets one: 2023-11-14T22:13:20Z. */
export const FIXED_MTIME = 1_700_000_000;
/** The configs' `created`, the same instant as {@link FIXED_MTIME}. */
export const FIXED_CREATED = new Date(FIXED_MTIME * 1000).toISOString().replace('.000Z', 'Z');

interface EntryBase {
  /** Absolute path inside the layer ("/srv/x"). */
  path: string;
  /** Permission bits, including setuid/setgid/sticky. Defaults: dir 0755, file 0644, fifo 0644, device 0666. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default {@link FIXED_MTIME}. */
  mtime?: number;
  /** Extended attributes (set after chown, so security.capability survives). */
  xattrs?: Record<string, Buffer | string>;
}

/** One entry of a layer's staging directory. Parents are created as root 0755 when not listed. */
export type StageEntry =
  | (EntryBase & { type: 'dir' })
  | (EntryBase & { type: 'file'; content: string | Buffer })
  | (EntryBase & { type: 'copy'; from: string })
  | (EntryBase & { type: 'symlink'; target: string })
  | (EntryBase & { type: 'hardlink'; target: string })
  | (EntryBase & { type: 'fifo' })
  | (EntryBase & { type: 'char' | 'block'; major: number; minor: number });

/** A whiteout deleting `path` (file or directory) of the layers below. */
export function whiteout(path: string): StageEntry {
  return { type: 'file', path: posix.join(posix.dirname(path), `.wh.${posix.basename(path)}`), content: '' };
}

/** The opaque marker of directory `dir`: the layers below contribute nothing inside it. */
export function opaqueMarker(dir: string): StageEntry {
  return { type: 'file', path: posix.join(dir, '.wh..wh..opq'), content: '' };
}

/** "sha256:<hex>" of some bytes. */
export function sha256Digest(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

async function materialise(stage: string, entries: StageEntry[]): Promise<void> {
  const explicit = new Map<string, number | undefined>();
  for (const e of entries) {
    if (!e.path.startsWith('/') || e.path === '/' || e.path.split('/').includes('..')) throw new Error(`bad stage path ${e.path}`);
    const abs = join(stage, e.path);
    await mkdir(dirname(abs), { recursive: true });
    switch (e.type) {
      case 'dir':
        await mkdir(abs, { recursive: true });
        break;
      case 'file':
        await writeFile(abs, e.content);
        break;
      case 'copy':
        await copyFile(e.from, abs);
        break;
      case 'symlink':
        await symlink(e.target, abs);
        break;
      case 'hardlink':
        await link(join(stage, e.target), abs);
        break;
      case 'fifo':
        await run('mkfifo', [abs]);
        break;
      case 'char':
      case 'block':
        await run('mknod', [abs, e.type === 'char' ? 'c' : 'b', String(e.major), String(e.minor)]);
        break;
    }
    if (e.type === 'hardlink') continue; // shares the target's inode and attributes
    const defMode = e.type === 'dir' ? 0o755 : e.type === 'char' || e.type === 'block' ? 0o666 : e.type === 'copy' ? 0o755 : 0o644;
    await lchown(abs, e.uid ?? 0, e.gid ?? 0); // before chmod: chown clears setuid/setgid
    if (e.type !== 'symlink') await chmod(abs, e.mode ?? defMode);
    for (const [name, value] of Object.entries(e.xattrs ?? {})) native().lsetxattr(abs, name, Buffer.from(value));
    explicit.set(abs, e.mtime);
  }
  // Implicit parents: root-owned 0755. Then every mtime, children before parents.
  const all: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      all.push(p);
      if ((await lstat(p)).isDirectory()) await walk(p);
    }
  };
  await walk(stage);
  for (const p of all) {
    if (!explicit.has(p) && (await lstat(p)).isDirectory()) {
      await lchown(p, 0, 0);
      await chmod(p, 0o755);
    }
  }
  await lchown(stage, 0, 0);
  await chmod(stage, 0o755);
  for (const p of [...all].reverse()) {
    const t = explicit.get(p) ?? FIXED_MTIME;
    await lutimes(p, t, t);
  }
  await lutimes(stage, FIXED_MTIME, FIXED_MTIME);
}

function layerMediaType(c: Compression, flavour: Flavour): string {
  if (flavour === 'oci') return c === 'gzip' ? MediaTypes.ociLayerGzip : c === 'zstd' ? MediaTypes.ociLayerZstd : MediaTypes.ociLayer;
  if (c === 'zstd') throw new Error('Docker schema2 has no zstd layer media type; use the OCI flavour');
  return c === 'gzip' ? MediaTypes.dockerLayerGzip : MediaTypes.dockerLayer;
}

/** Compresses a tar the way layers are: `gzip -n` (no name, no timestamp) or `zstd -3`. */
export async function compress(tar: Buffer, c: Compression): Promise<Buffer> {
  if (c === 'gzip') return run('gzip', ['-n', '-c', '-6'], { input: tar });
  if (c === 'zstd') return run('zstd', ['-q', '-c', '-3', '--no-progress'], { input: tar });
  return tar;
}

/** Options for {@link buildLayer}. */
export interface LayerOptions {
  compression?: Compression;
  /** Only chooses the media type; {@link buildImage} re-derives it for its own flavour. */
  flavour?: Flavour;
  createdBy?: string;
}

/**
 * Builds a layer: materialises `entries` in a temp stage dir, archives it with GNU tar (pax,
 * --xattrs, --numeric-owner, --sort=name, no atime/ctime records, PID-free pax header names),
 * compresses it, digests it, removes the stage.
 */
export async function buildLayer(entries: StageEntry[], opts: LayerOptions = {}): Promise<BuiltLayer> {
  const compression = opts.compression ?? 'gzip';
  const stage = await makeTempDir('berth-stage-');
  try {
    await materialise(stage, entries);
    const tar = await run('tar', [
      '--xattrs',
      '--xattrs-include=*',
      '--numeric-owner',
      '--format=pax',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '--sort=name',
      '-C',
      stage,
      '-cf',
      '-',
      '.',
    ]);
    const bytes = await compress(tar, compression);
    return {
      digest: sha256Digest(bytes),
      diffId: sha256Digest(tar),
      size: bytes.length,
      mediaType: layerMediaType(compression, opts.flavour ?? 'oci'),
      compression,
      bytes,
      tar,
      createdBy: opts.createdBy ?? 'COPY layer /',
    };
  } finally {
    await removeTempDir(stage);
  }
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/** The run config an image carries (Docker's `config` object; every field optional). */
export interface RunConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** What {@link buildImage} assembles. */
export interface ImageSpec {
  layers: BuiltLayer[];
  flavour?: Flavour;
  /** Default: the host's ({@link hostPlatform}). */
  platform?: Platform;
  config?: RunConfig;
  /**
   * History; default one entry per layer (its createdBy) followed by `trailingHistory`.
   * Must have exactly one non-empty_layer entry per layer when given.
   */
  history?: HistoryEntry[];
  /** Empty-layer history entries appended to the default history (e.g. CMD). */
  trailingHistory?: HistoryEntry[];
  /** OCI manifest annotations. */
  annotations?: Record<string, string>;
}

/** The host as an OCI platform (x64 -> amd64, arm64 -> arm64/v8, arm -> arm/v7). */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm':
      return { os: 'linux', architecture: 'arm', variant: 'v7' };
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    default:
      return { os: 'linux', architecture: process.arch };
  }
}

/** Assembles config and manifest for already-built layers. */
export function buildImage(spec: ImageSpec): BuiltImage {
  const flavour = spec.flavour ?? 'oci';
  const platform = spec.platform ?? hostPlatform();
  const layers = spec.layers.map((l) => ({ ...l, mediaType: layerMediaType(l.compression, flavour) }));
  const history: HistoryEntry[] = spec.history ?? [
    ...layers.map((l) => ({ created: FIXED_CREATED, created_by: l.createdBy })),
    ...(spec.trailingHistory ?? []).map((h) => ({ created: FIXED_CREATED, ...h, empty_layer: true })),
  ];
  if (history.filter((h) => !h.empty_layer).length !== layers.length) throw new Error('history must have one non-empty entry per layer');
  const configObj = {
    created: FIXED_CREATED,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history,
  };
  const config = Buffer.from(JSON.stringify(configObj));
  const configMediaType = flavour === 'oci' ? MediaTypes.ociConfig : MediaTypes.dockerConfig;
  const mediaType = flavour === 'oci' ? MediaTypes.ociManifest : MediaTypes.dockerManifest;
  const manifestObj = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configMediaType, digest: sha256Digest(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(spec.annotations && flavour === 'oci' ? { annotations: spec.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  return {
    flavour,
    platform,
    layers,
    config,
    configDigest: sha256Digest(config),
    configMediaType,
    manifest,
    manifestDigest: sha256Digest(manifest),
    mediaType,
  };
}

// ---------------------------------------------------------------------------------------------
// Ready-made images
// ---------------------------------------------------------------------------------------------

/** The busybox applets linked in /bin of {@link busyboxImage} (each a symlink to "busybox"). */
export const BUSYBOX_APPLETS = [
  'sh',
  'ash',
  'ls',
  'cat',
  'echo',
  'true',
  'false',
  'sleep',
  'id',
  'env',
  'mkdir',
  'rm',
  'rmdir',
  'touch',
  'stat',
  'ln',
  'cp',
  'mv',
  'chmod',
  'chown',
  'grep',
  'head',
  'tail',
  'wc',
  'printf',
  'test',
  'pwd',
  'uname',
  'whoami',
  'hostname',
  'ps',
  'kill',
  'readlink',
  'find',
  'sort',
  'tr',
  'sed',
  'date',
  'dd',
  'du',
  'seq',
  'tee',
  'xargs',
  'basename',
  'dirname',
  'od',
  'mkfifo',
  'mknod',
  'sha256sum',
  'nc',
  'wget',
  'vi',
];

/** /etc/passwd of {@link busyboxImage}: root (0), app (1000, home /home/app), nobody (65534). */
export const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\n' + 'app:x:1000:1000:app:/home/app:/bin/sh\n' + 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
/** /etc/group of {@link busyboxImage}: root (0), app (1000), nogroup (65534). */
export const GROUP = 'root:x:0:\n' + 'app:x:1000:app\n' + 'nogroup:x:65534:\n';

/** The stage of the busybox base layer (also layer 1 of {@link featureImage}). */
export function busyboxEntries(): StageEntry[] {
  return [
    { type: 'dir', path: '/bin' },
    { type: 'copy', path: '/bin/busybox', from: '/bin/busybox', mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a): StageEntry => ({ type: 'symlink', path: `/bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: '/etc' },
    { type: 'file', path: '/etc/passwd', content: PASSWD },
    { type: 'file', path: '/etc/group', content: GROUP },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/root', mode: 0o700 },
    { type: 'dir', path: '/home' },
    { type: 'dir', path: '/home/app', uid: 1000, gid: 1000 },
    { type: 'dir', path: '/dev' },
    { type: 'dir', path: '/proc' },
    { type: 'dir', path: '/sys' },
  ];
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const layerCache = new Map<string, Promise<BuiltLayer>>();
function cachedLayer(key: string, make: () => Promise<BuiltLayer>): Promise<BuiltLayer> {
  let p = layerCache.get(key);
  if (!p) {
    p = make();
    p.catch(() => layerCache.delete(key));
    layerCache.set(key, p);
  }
  return p;
}

/** Options of the ready-made images. */
export interface ReadyImageOptions {
  flavour?: Flavour;
  /** Default gzip. zstd needs the OCI flavour. */
  compression?: Compression;
  platform?: Platform;
}

/** The busybox base layer (cached per compression; identical bytes every time). */
export function busyboxLayer(compression: Compression = 'gzip'): Promise<BuiltLayer> {
  return cachedLayer(`busybox:${compression}`, () =>
    buildLayer(busyboxEntries(), { compression, createdBy: 'COPY busybox-rootfs / # berth test image' }),
  );
}

/**
 * One layer: /bin/busybox (0755) with /bin/<applet> symlinks ({@link BUSYBOX_APPLETS}, target
 * "busybox"), /etc/passwd ({@link PASSWD}) and /etc/group ({@link GROUP}), /tmp 1777, /root 0700,
 * /home/app owned 1000:1000, empty /dev /proc /sys. Config: Env PATH, Cmd ["sh"], label
 * org.berth.test=busybox; history: the layer, then an empty-layer CMD entry.
 */
export async function busyboxImage(opts: ReadyImageOptions = {}): Promise<BuiltImage> {
  return buildImage({
    flavour: opts.flavour,
    platform: opts.platform,
    layers: [await busyboxLayer(opts.compression ?? 'gzip')],
    config: { Env: [PATH_ENV], Cmd: ['sh'], Labels: { 'org.berth.test': 'busybox' } },
    trailingHistory: [{ created_by: 'CMD ["sh"]' }],
  });
}

/** VFS v2 file capability: CAP_NET_BIND_SERVICE permitted + effective (20 bytes). */
export const CAP_NET_BIND_SERVICE_XATTR = Buffer.from('0100000200040000000000000000000000000000', 'hex');

const LONG_NAME = 'a-very-long-file-name-that-does-not-fit-in-the-ustar-name-field-'.repeat(2) + 'end.txt';

/** Paths and facts of {@link featureImage}, for assertions. */
export const FEATURE = {
  /** Layer 2: setuid root file, mode 04755. */
  setuid: '/usr/local/bin/suid',
  /** Layer 2: setgid file, group 1000, mode 02755. */
  setgid: '/usr/local/bin/sgid',
  /** Layer 2: sticky directory, mode 01777. */
  stickyDir: '/srv/sticky',
  /** Layer 2: a hardlink pair (b is archived as a link to a), content "hardlinked\n". */
  hardlinks: ['/srv/hard/a', '/srv/hard/b'],
  /** Layer 2: symlinks and their targets. */
  symlinks: {
    '/srv/links/rel': '../hard/a',
    '/srv/links/abs': '/etc/passwd',
    '/srv/links/dangling': '/nonexistent/target',
    '/srv/links/dir': '../hard',
  } as Record<string, string>,
  /** Layer 2: a FIFO, mode 0640. */
  fifo: '/srv/fifo',
  /** Layer 2: a character device 1:3 (a copy of /dev/null), mode 0666. */
  charDevice: '/srv/null',
  /** Layer 2: a file with xattrs user.foo="bar" and security.capability (CAP_NET_BIND_SERVICE). */
  xattrFile: '/srv/xattr',
  /** Layer 2: a directory with xattr user.dir="1". */
  xattrDir: '/srv/xattrdir',
  /** Layer 2: owned by 1000:1000: a 0640 file and a 0700 dir. */
  ownedFile: '/home/app/owned',
  ownedDir: '/home/app/private',
  /** Layer 2: files with odd mtimes (seconds). */
  mtimes: {
    '/srv/mtime/epoch': 0,
    '/srv/mtime/y1980': 315_532_800,
    '/srv/mtime/y2038': 2_147_483_648,
    '/srv/mtime/olddir': 1_000_000_000,
  } as Record<string, number>,
  /** Layer 2: an empty file, a file with a >100-byte name, a non-ASCII name. */
  empty: '/srv/empty',
  longName: `/srv/long/${LONG_NAME}`,
  unicode: '/srv/ünïcødé-✓.txt',
  /** Deleted by layer 3's whiteouts: /srv/gone (file, layer 2), /srv/gonedir (dir with x and sub/y, layer 2), /bin/false (symlink, layer 1). */
  deleted: ['/srv/gone', '/srv/gonedir', '/bin/false'],
  /** Layer 2 puts old1 and sub/old2 in it; layer 3 marks it opaque and adds only "new" ("new\n"). */
  opaqueDir: '/srv/opaque',
  opaqueBefore: ['/srv/opaque/old1', '/srv/opaque/sub', '/srv/opaque/sub/old2'],
  opaqueAfter: ['/srv/opaque/new'],
  /** Layer 2: "v1\n" mode 0644; layer 3 overwrites it: "v2 changed\n" mode 0600. */
  changed: { path: '/srv/changed', before: 'v1\n', after: 'v2 changed\n', modeAfter: 0o600 },
  /** Layer 2: a file; layer 3: a directory holding "file" ("now a dir\n"). */
  typeChange: '/srv/typechange',
} as const;

/** The stage of {@link featureImage}'s layer 2 (the feature layer). */
export function featureEntries(): StageEntry[] {
  return [
    { type: 'file', path: FEATURE.setuid, content: '#!/bin/sh\necho suid\n', mode: 0o4755 },
    { type: 'file', path: FEATURE.setgid, content: '#!/bin/sh\necho sgid\n', mode: 0o2755, gid: 1000 },
    { type: 'dir', path: FEATURE.stickyDir, mode: 0o1777 },
    { type: 'file', path: FEATURE.hardlinks[0], content: 'hardlinked\n' },
    { type: 'hardlink', path: FEATURE.hardlinks[1], target: FEATURE.hardlinks[0] },
    ...Object.entries(FEATURE.symlinks).map(([path, target]): StageEntry => ({ type: 'symlink', path, target })),
    { type: 'fifo', path: FEATURE.fifo, mode: 0o640 },
    { type: 'char', path: FEATURE.charDevice, major: 1, minor: 3, mode: 0o666 },
    {
      type: 'file',
      path: FEATURE.xattrFile,
      content: 'xattrs\n',
      mode: 0o755,
      xattrs: { 'user.foo': 'bar', 'security.capability': CAP_NET_BIND_SERVICE_XATTR },
    },
    { type: 'dir', path: FEATURE.xattrDir, xattrs: { 'user.dir': '1' } },
    { type: 'file', path: FEATURE.ownedFile, content: 'owned by app\n', mode: 0o640, uid: 1000, gid: 1000 },
    { type: 'dir', path: FEATURE.ownedDir, mode: 0o700, uid: 1000, gid: 1000 },
    { type: 'dir', path: '/srv/mtime/olddir', mtime: FEATURE.mtimes['/srv/mtime/olddir'] },
    { type: 'file', path: '/srv/mtime/epoch', content: 'epoch\n', mtime: 0 },
    { type: 'file', path: '/srv/mtime/y1980', content: '1980\n', mtime: FEATURE.mtimes['/srv/mtime/y1980'] },
    { type: 'file', path: '/srv/mtime/y2038', content: '2038\n', mtime: FEATURE.mtimes['/srv/mtime/y2038'] },
    { type: 'file', path: FEATURE.empty, content: '' },
    { type: 'file', path: FEATURE.longName, content: 'long name\n' },
    { type: 'file', path: FEATURE.unicode, content: 'unicode\n' },
    { type: 'file', path: '/srv/gone', content: 'to be deleted\n' },
    { type: 'file', path: '/srv/gonedir/x', content: 'x\n' },
    { type: 'file', path: '/srv/gonedir/sub/y', content: 'y\n' },
    { type: 'file', path: '/srv/opaque/old1', content: 'old1\n' },
    { type: 'file', path: '/srv/opaque/sub/old2', content: 'old2\n' },
    { type: 'file', path: FEATURE.changed.path, content: FEATURE.changed.before },
    { type: 'file', path: FEATURE.typeChange, content: 'was a file\n' },
  ];
}

/** The stage of {@link featureImage}'s layer 3 (whiteouts, opaque dir, changes). */
export function changeEntries(): StageEntry[] {
  return [
    whiteout('/srv/gone'),
    whiteout('/srv/gonedir'),
    whiteout('/bin/false'),
    { type: 'dir', path: FEATURE.opaqueDir },
    opaqueMarker(FEATURE.opaqueDir),
    { type: 'file', path: '/srv/opaque/new', content: 'new\n' },
    { type: 'file', path: FEATURE.changed.path, content: FEATURE.changed.after, mode: FEATURE.changed.modeAfter },
    { type: 'file', path: `${FEATURE.typeChange}/file`, content: 'now a dir\n' },
  ];
}

/**
 * Three layers: 1 = the busybox layer of {@link busyboxImage}; 2 = {@link featureEntries} (setuid,
 * setgid, sticky, hardlinks, symlinks, FIFO, char device, xattrs, 1000:1000 owners, odd mtimes,
 * long and non-ASCII names); 3 = {@link changeEntries} (whiteouts of a file, a directory and a
 * layer-1 symlink; an opaque dir; an overwritten file; file -> dir). See {@link FEATURE}.
 * `compression` "zstd" / "none" give the zstd-compressed / uncompressed variants (all layers).
 * Config: User "", WorkingDir /srv, Env PATH + FEATURE=1, Cmd ["sh"], ExposedPorts 8080/tcp,
 * Volumes /data, StopSignal SIGTERM, labels; history: 3 layer entries + empty-layer ENV, CMD.
 */
export async function featureImage(opts: ReadyImageOptions = {}): Promise<BuiltImage> {
  const c = opts.compression ?? 'gzip';
  const layers = await Promise.all([
    busyboxLayer(c),
    cachedLayer(`feature:${c}`, () => buildLayer(featureEntries(), { compression: c, createdBy: 'COPY features / # berth test image' })),
    cachedLayer(`changes:${c}`, () =>
      buildLayer(changeEntries(), {
        compression: c,
        createdBy: 'RUN rm -rf /srv/gone /srv/gonedir /bin/false /srv/opaque/* && echo new > /srv/opaque/new && ... # berth test image',
      }),
    ),
  ]);
  return buildImage({
    flavour: opts.flavour,
    platform: opts.platform,
    layers,
    config: {
      Env: [PATH_ENV, 'FEATURE=1'],
      Cmd: ['sh'],
      WorkingDir: '/srv',
      ExposedPorts: { '8080/tcp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGTERM',
      Labels: { 'org.berth.test': 'feature' },
    },
    trailingHistory: [{ created_by: 'ENV FEATURE=1' }, { created_by: 'CMD ["sh"]' }],
  });
}

/** The platforms of {@link multiPlatformIndex}, in index order. */
export const INDEX_PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];

/**
 * A multi-platform index: linux/amd64, linux/arm64/v8, linux/arm/v7 — all three are the busybox
 * image (same layer; only the config's architecture/variant differ, so only the host's one really
 * runs) — plus a Docker buildx-style attestation manifest (platform unknown/unknown, annotations
 * vnd.docker.reference.type=attestation-manifest and vnd.docker.reference.digest = the amd64
 * manifest; one application/vnd.in-toto+json layer). `flavour` "docker" makes a Docker manifest
 * list of Docker schema2 manifests (the attestation stays an OCI manifest, as buildx does).
 */
export async function multiPlatformIndex(opts: { flavour?: Flavour; compression?: Compression } = {}): Promise<BuiltIndex> {
  const flavour = opts.flavour ?? 'oci';
  const layer = await busyboxLayer(opts.compression ?? 'gzip');
  const images = INDEX_PLATFORMS.map((platform) =>
    buildImage({
      flavour,
      platform,
      layers: [layer],
      config: { Env: [PATH_ENV], Cmd: ['sh'], Labels: { 'org.berth.test': 'multi' } },
      trailingHistory: [{ created_by: 'CMD ["sh"]' }],
    }),
  );
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1',
      predicateType: 'https://spdx.dev/Document',
      subject: [{ name: 'berth-test', digest: { sha256: images[0].manifestDigest.slice(7) } }],
      predicate: { spdxVersion: 'SPDX-2.3', name: 'berth-test' },
    }),
  );
  const attLayer: BuiltLayer = {
    digest: sha256Digest(statement),
    diffId: sha256Digest(statement),
    size: statement.length,
    mediaType: MediaTypes.inToto,
    compression: 'none',
    bytes: statement,
    tar: statement,
    createdBy: '',
  };
  const attConfig = Buffer.from(
    JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [attLayer.diffId] } }),
  );
  const attManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: sha256Digest(attConfig), size: attConfig.length },
      layers: [
        {
          mediaType: MediaTypes.inToto,
          digest: attLayer.digest,
          size: attLayer.size,
          annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' },
        },
      ],
    }),
  );
  const attestation: BuiltImage = {
    flavour: 'oci',
    platform: { os: 'unknown', architecture: 'unknown' },
    layers: [attLayer],
    config: attConfig,
    configDigest: sha256Digest(attConfig),
    configMediaType: MediaTypes.ociConfig,
    manifest: attManifest,
    manifestDigest: sha256Digest(attManifest),
    mediaType: MediaTypes.ociManifest,
  };
  const mediaType = flavour === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: [
        ...images.map((img) => ({
          mediaType: img.mediaType,
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: img.platform,
        })),
        {
          mediaType: attestation.mediaType,
          digest: attestation.manifestDigest,
          size: attestation.manifest.length,
          platform: attestation.platform,
          annotations: { 'vnd.docker.reference.digest': images[0].manifestDigest, 'vnd.docker.reference.type': 'attestation-manifest' },
        },
      ],
    }),
  );
  return { flavour, index, indexDigest: sha256Digest(index), mediaType, images, attestation };
}
