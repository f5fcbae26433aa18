/**
 * `container/commit`: a container's writable layer becomes a new layer on top of its image's, and
 * the result a new image, as `docker commit` does.
 *
 * 1. The upper dir is written as an OCI layer tar into a temp file (the container frozen meanwhile
 *    when it runs and `pause` is on): files, dirs, symlinks, hardlinks (same inode: the first path
 *    is the file, the others link to it), devices and FIFOs with mode, owner, mtime (whole seconds,
 *    as Docker writes them) and xattrs, except `trusted.overlay.*`. Whiteouts (0/0 char devices)
 *    become `.wh.NAME` entries and opaque dirs a `DIR/.wh..wh..opq` entry after the dir. Sockets
 *    are skipped, as Docker skips them. The tar's sha256 is the diffID.
 * 2. The tar is gzipped into a temp file (its sha256 is the blob digest) and stored as a blob.
 * 3. The layer is registered exactly as a pull registers one: `ensureLayers` unpacks the stored
 *    blob into a temp layer dir, checks the diffID, indexes it against the layers below and commits
 *    it under its chain ID. So a committed layer is byte for byte what a later pull or load of the
 *    same image would store.
 * 4. The config is the parent's, with the container's run settings (Cmd, Entrypoint, Env,
 *    WorkingDir, User, Labels, StopSignal), the `changes`, one more history entry and diff_id; an
 *    OCI manifest names the config and every layer; the image record is written, then the tag.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  createReadStream,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { CommitParams, CommitResult } from '../../../protocol';
import { native } from '../../../native';
import { BerthError, ErrorCode, isErrno, systemError } from '../../errors';
import { MediaType, type Descriptor } from '../../oci';
import { ensureLayers } from '../../images/ensureLayers';
import { familiarName, formatReference, parseReference, withDefaultTag } from '../../oci/reference';
import { fileContentChunks, TarWriter, type TarWriteHeader } from '../../oci/tarWriter';
import { chainIds, type ImageRecord, type Store } from '../../store/store';
import type { ImageService } from '../../images/service';
import { walkUpper } from './diff';
import type { ContainerService } from './service';

const OP = 'commit container';
const CHUNK = 1 << 20;

/** Docker's layer media types and their OCI equivalents (the new manifest is OCI). */
const OCI_LAYER_TYPE: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
};

function invalid(msg: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${OP}: ${msg}`, { operation: OP });
}

/**
 * Writes the upper dir `upper` as an OCI layer tar through `write`. Synchronous: the caller
 * freezes the container around it.
 */
export function writeUpperTar(upper: string, write: (chunk: Buffer) => void): void {
  const tar = new TarWriter(write);
  const links = new Map<string, string>();
  for (const e of walkUpper(upper)) {
    const abs = join(upper, e.path);
    const st = e.stat;
    const slash = e.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : e.path.slice(0, slash + 1);
    const base = e.path.slice(slash + 1);
    const meta = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (e.kind === 'whiteout') {
      tar.addEntry({ name: `${dir}.wh.${base}`, type: 'file', mode: 0o600, mtime: meta.mtime });
      continue;
    }
    const xattrs = readXattrs(abs);
    const h: TarWriteHeader = { name: e.path, ...meta, ...(xattrs.size ? { xattrs } : {}) };
    if (e.kind === 'dir' || e.kind === 'opaque-dir') {
      tar.addEntry({ ...h, name: `${e.path}/`, type: 'dir' });
      if (e.kind === 'opaque-dir') tar.addEntry({ name: `${e.path}/.wh..wh..opq`, type: 'file', mode: 0o600, mtime: meta.mtime });
    } else if (e.kind === 'symlink') {
      tar.addEntry({ ...h, type: 'symlink', linkname: readlinkSync(abs) });
    } else if (e.kind === 'file') {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        tar.addEntry({ ...h, type: 'hardlink', linkname: first });
        continue;
      }
      if (st.nlink > 1) links.set(key, e.path);
      writeFile(tar, h, abs);
    } else if (st.isFIFO()) {
      tar.addEntry({ ...h, type: 'fifo' });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const big = lstatSync(abs, { bigint: true });
      const rdev = big.rdev;
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      tar.addEntry({ ...h, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor });
    }
    // Sockets are not archived.
  }
  tar.finish();
}

function writeFile(tar: TarWriter, h: TarWriteHeader, abs: string): void {
  const fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const size = fstatSync(fd).size;
    tar.beginEntry({ ...h, type: 'file', size });
    // A file that shrinks meanwhile (a container committed without pausing) is padded with zeros.
    for (const chunk of fileContentChunks(fd, size, CHUNK)) tar.writeContent(chunk);
    tar.endEntry();
  } finally {
    closeSync(fd);
  }
}

function readXattrs(abs: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = native().llistxattr(abs);
  } catch (e) {
    // Gone in between, or a filesystem without xattrs: nothing to archive.
    if (isErrno(e, 'ENOENT', 'ENOTSUP', 'EOPNOTSUPP')) return out;
    throw e;
  }
  for (const name of names.sort()) {
    if (name.startsWith('trusted.overlay.')) continue;
    try {
      const v = native().lgetxattr(abs, name);
      if (v) out.set(name, v);
    } catch (e) {
      // Gone in between (the file or the attribute): not archived.
      if (!isErrno(e, 'ENOENT', 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP')) throw e;
    }
  }
  return out;
}

type Json = Record<string, unknown>;
type RunConfig = Record<string, unknown> & { Env?: string[]; Labels?: Record<string, string>; ExposedPorts?: Record<string, object> };

/** Applies Dockerfile-like `changes` (see CommitParams.changes) to a config's `config` object. */
export function applyChanges(cfg: RunConfig, changes: string[]): void {
  const pairs = (rest: string, what: string): [string, string][] => {
    if (!rest.includes('=')) {
      const sp = rest.search(/\s/);
      if (sp < 0) throw invalid(`${what} needs NAME=value or NAME value, got "${rest}"`);
      return [[rest.slice(0, sp), rest.slice(sp).trim()]];
    }
    return rest.split(/\s+/).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw invalid(`${what} needs NAME=value pairs, got "${kv}"`);
      return [kv.slice(0, eq), kv.slice(eq + 1).replace(/^"(.*)"$/, '$1')];
    });
  };
  const argv = (rest: string, what: string): string[] => {
    if (rest.startsWith('[')) {
      let v: unknown;
      try {
        v = JSON.parse(rest);
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        throw invalid(`${what} must be a JSON array of strings or a shell command, got ${rest}`);
      }
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(`${what} must be a JSON array of strings`);
      return v as string[];
    }
    return ['/bin/sh', '-c', rest];
  };
  for (const raw of changes) {
    const line = raw.trim();
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw invalid(`cannot apply change "${raw}": want INSTRUCTION ARGUMENTS`);
    const instr = m[1].toUpperCase();
    const rest = m[2].trim();
    switch (instr) {
      case 'CMD':
        cfg.Cmd = argv(rest, 'CMD');
        break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = argv(rest, 'ENTRYPOINT');
        break;
      case 'ENV': {
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of pairs(rest, 'ENV')) {
          const i = env.findIndex((x) => x.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL':
        cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs(rest, 'LABEL')) };
        break;
      case 'WORKDIR':
        if (!rest.startsWith('/')) throw invalid(`WORKDIR must be absolute, got "${rest}"`);
        cfg.WorkingDir = rest;
        break;
      case 'USER':
        cfg.User = rest;
        break;
      case 'STOPSIGNAL':
        cfg.StopSignal = rest;
        break;
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of rest.split(/\s+/)) {
          if (!/^[0-9]{1,5}(\/(tcp|udp|sctp))?$/.test(p)) throw invalid(`EXPOSE needs port[/tcp|udp], got "${p}"`);
          ports[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      default:
        throw invalid(
          `cannot apply change "${raw}": ${instr} is not one of CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, STOPSIGNAL, EXPOSE`,
        );
    }
  }
}

/** A layer as an image record lists it (what {@link storeLayer} returns). */
export type StoredLayer = ImageRecord['layers'][number];

/**
 * Writes a layer tar to a new file at `path` (created 0600, never overwritten) with what `produce`
 * hands to its `write`, and returns its diffID (the sha256 of the bytes). Used by commit (the
 * container's upper dir) and by builds (COPY, ADD, WORKDIR, RUN). On failure the file may be left:
 * the caller removes it.
 */
export async function writeLayerTar(path: string, produce: (write: (chunk: Buffer) => void) => void | Promise<void>): Promise<string> {
  const hash = createHash('sha256');
  const fd = openSync(path, 'wx', 0o600);
  try {
    await produce((chunk) => {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    });
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Steps 2 and 3 of the module comment for any layer tar the agent made: gzips `tarPath` (whose
 * sha256 is `diffId`) into a blob, stores it, and registers the layer on top of `parents` (image
 * layers, bottom first, all in the store) exactly as a pull registers one. The tar file is removed.
 * The new layer's chain ID and blob are leased until the caller calls `release` (once an image
 * record names them, or when it no longer needs them). `operation` names the work in errors.
 */
export async function storeLayer(
  store: Store,
  tarPath: string,
  diffId: string,
  parents: readonly StoredLayer[],
  operation: string,
): Promise<{ layer: StoredLayer; size: number; release: () => void }> {
  const gzPath = store.tempPath('layer-blob');
  const gzHash = createHash('sha256');
  let gzSize = 0;
  try {
    await pipeline(
      createReadStream(tarPath),
      createGzip(),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          gzHash.update(c);
          gzSize += c.length;
          yield c;
        }
      },
      createWriteStream(gzPath, { mode: 0o644, flags: 'wx' }),
    );
  } catch (e) {
    rmSync(gzPath, { force: true });
    throw systemError(operation, e, { path: gzPath });
  } finally {
    rmSync(tarPath, { force: true });
  }
  const digest = `sha256:${gzHash.digest('hex')}`;
  const diffIds = [...parents.map((l) => l.diffId), diffId];
  const chains = chainIds(diffIds);
  const chainId = chains[chains.length - 1];
  const release = store.lease([digest, chainId]);
  try {
    if (store.hasBlob(digest)) rmSync(gzPath, { force: true });
    else store.commitBlobFile(gzPath, digest);
    const layers: Descriptor[] = [
      ...parents.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      { mediaType: MediaType.OciLayerGzip, digest, size: gzSize },
    ];
    await ensureLayers(store, undefined, undefined, layers, diffIds, chains, {});
    const layer: StoredLayer = { digest, mediaType: MediaType.OciLayerGzip, size: gzSize, diffId, chainId };
    return { layer, size: store.readLayer(chainId).size, release };
  } catch (e) {
    release();
    throw e;
  } finally {
    rmSync(gzPath, { force: true });
  }
}

/**
 * Step 4 of the module comment for any config the agent made: stores `configBytes` (an image
 * config whose rootfs.diff_ids are those of `layers`, all in the store) and an OCI manifest naming
 * it and `layers`, writes the image record (kept as is when the image exists already), and points
 * `tagName` (a normalised reference) at it. Returns the image ID. Emits nothing.
 */
export async function storeImage(
  store: Store,
  images: ImageService,
  configBytes: Buffer,
  layers: readonly StoredLayer[],
  tagNames: readonly string[] = [],
): Promise<string> {
  const ociLayers = layers.map((l) => ({ ...l, mediaType: OCI_LAYER_TYPE[l.mediaType] ?? l.mediaType }));
  const imageId = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: imageId, size: configBytes.length },
    layers: ociLayers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
  store.putBlob(imageId, configBytes);
  store.putBlob(manifestDigest, manifestBytes);
  await store.locked(() => {
    const image: ImageRecord = store.readImage(imageId) ?? {
      id: imageId,
      manifestDigest,
      manifestMediaType: MediaType.OciManifest,
      repoDigests: [],
      layers: ociLayers,
      added: new Date().toISOString(),
      lastTagTime: '',
    };
    store.writeImage(image);
    for (const t of tagNames) images.setTag(t, image);
  });
  return imageId;
}

/** `container/commit` (see the module comment). */
export async function commitContainer(svc: ContainerService, p: CommitParams): Promise<CommitResult> {
  const { store, images } = svc;
  const rec = svc.find(p.container, OP);
  let tagName: string | undefined;
  let familiar: string | undefined;
  if (p.reference !== undefined) {
    const ref = withDefaultTag(parseReference(p.reference));
    if (ref.digest)
      throw new BerthError(ErrorCode.InvalidReference, `${OP}: "${p.reference}" has a digest; a tag cannot name one`, {
        operation: OP,
        reference: p.reference,
      });
    tagName = formatReference(ref);
    familiar = familiarName(ref);
  }
  const parent = store.readImage(rec.image.id);
  if (!parent)
    throw new BerthError(ErrorCode.NotFound, `${OP}: image ${rec.image.id} of container ${rec.name} is no longer in the store`, {
      operation: OP,
    });
  const parentConfig = JSON.parse(store.readBlob(parent.id).toString('utf8')) as Json;
  const runConfig: RunConfig = { ...((parentConfig.config as RunConfig | undefined) ?? {}) };
  Object.assign(runConfig, {
    Cmd: rec.process.cmd,
    Entrypoint: rec.process.entrypoint,
    Env: rec.process.env,
    WorkingDir: rec.process.workingDir,
    User: rec.process.user,
    Labels: rec.labels,
    ...(rec.process.stopSignal ? { StopSignal: rec.process.stopSignal } : {}),
  });
  applyChanges(runConfig, p.changes ?? []);

  const release = store.lease([...parent.layers.map((l) => l.chainId), ...parent.layers.map((l) => l.digest), parent.id]);
  const tarPath = store.tempPath('commit-tar');
  try {
    // 1. The tar, with the container frozen while its files are read.
    const { upper, cgroup, running } = svc.runtimeOf(rec);
    let diffId: string;
    try {
      diffId = await writeLayerTar(tarPath, async (write) => {
        const frozen = running && cgroup && p.pause !== false;
        if (frozen) await cgroup.freeze();
        try {
          writeUpperTar(upper, write);
        } finally {
          if (frozen) await cgroup.thaw();
        }
      });
    } catch (e) {
      throw systemError(OP, e, { path: upper });
    }

    // 2 and 3. The gzipped blob, and the layer as a pull registers it.
    const parents = parent.layers.map((l) => ({ ...l, mediaType: OCI_LAYER_TYPE[l.mediaType] ?? l.mediaType }));
    const made = await storeLayer(store, tarPath, diffId, parents, OP);
    try {
      // 4. Config, manifest, record, tag.
      const layers = [...parents, made.layer];
      const created = new Date().toISOString();
      const parentHistory =
        Array.isArray(parentConfig.history) && parentConfig.history.length > 0
          ? (parentConfig.history as Json[])
          : parent.layers.map(() => ({ created: parentConfig.created }));
      const config: Json = {
        ...parentConfig,
        created,
        ...(p.author ? { author: p.author } : {}),
        config: runConfig,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: [
          ...parentHistory,
          {
            created,
            created_by: `berth commit ${rec.name}`,
            ...(p.author ? { author: p.author } : {}),
            ...(p.comment ? { comment: p.comment } : {}),
          },
        ],
      };
      if (!p.author) delete config.author;
      const imageId = await storeImage(store, images, Buffer.from(JSON.stringify(config)), layers, tagName ? [tagName] : []);
      svc.emitEvent('commit', rec, {
        imageID: imageId,
        ...(familiar ? { imageRef: familiar } : {}),
        ...(p.comment ? { comment: p.comment } : {}),
      });
      if (familiar) images.emit('tag', imageId, { name: familiar });
      return { Id: imageId, Layer: { Digest: made.layer.digest, DiffID: diffId, Size: made.size } };
    } finally {
      made.release();
    }
  } finally {
    release();
    rmSync(tarPath, { force: true });
  }
}
