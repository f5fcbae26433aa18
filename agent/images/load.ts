/**
 * `image/load`: imports the images of an archive on the agent's machine. Two formats:
 *
 *   docker-save  manifest.json = [{Config, RepoTags, Layers}], configs and layer tars by path
 *                (older Docker writes repeated layers as symlinks to the first copy)
 *   OCI layout   oci-layout + index.json + blobs/<alg>/<hex> (skopeo's oci-archive, Docker 25+)
 *
 * The archive is hostile input: it is read once, as a stream; each regular file is staged under the
 * store's tmp/ by number (never by its archive name) and hashed on the way; names are normalised
 * and may not escape; JSON documents are size-limited and parsed strictly. Layers are then verified
 * (blob digests against names, diffIDs against the config) and unpacked exactly as a pull does.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode, systemError } from '../errors';
import { hostPlatform, platformString, selectManifest } from '../oci/platform';
import { chainIds, type ImageRecord, type Store } from '../store/store';
import { checkCallerAccess } from './access';
import { decompressingSource } from '../oci/decompress';
import {
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  MediaType,
  checkConfigMatchesManifest,
  digestOf,
  parseConfig,
  parseDigest,
  parseManifestDocument,
  type Descriptor,
  type ImageManifest,
} from '../oci';
import { ensureLayers } from './ensureLayers';
import { familiarName, formatReference, type ImageReference, parseReference, withDefaultTag } from '../oci/reference';
import type { EventHub } from '../events';
import { type ImageCatalog, newImageRecord } from './catalog';
import { readTar } from '../oci/tar';

interface Staged {
  file: string;
  digest: string;
  size: number;
}

interface ImageToImport {
  configDigest: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  tags: string[];
}

const OPERATION = 'load';

export interface LoaderDeps {
  store: Store;
  catalog: ImageCatalog;
  events: EventHub;
}

/** What a load recorded: the images (in archive order) and the tags it set. */
export interface Loaded {
  records: ImageRecord[];
  tags: string[];
}

export class Loader {
  constructor(private readonly deps: LoaderDeps) {}

  /**
   * `peer`: who asked (over the socket); a caller other than root may only load a file it could read
   * itself. The server should pass the connection's peer.
   */
  async load(path: string, peer?: PeerCred): Promise<Loaded> {
    const { store, catalog, events } = this.deps;
    checkCallerAccess(OPERATION, path, 'read', peer);
    const stage = store.tempPath('load');
    try {
      mkdirSync(stage, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw systemError(OPERATION, err, { path: stage });
    }
    try {
      const files = await stageArchive(path, stage);
      const images = files.has('manifest.json') ? dockerArchive(files, path) : ociLayout(files, path);
      if (images.length === 0) throw invalid(path, 'the archive holds no image');

      const records: ImageRecord[] = [];
      const allTags: string[] = [];
      for (const img of images) {
        const configBytes = store.hasBlob(img.configDigest)
          ? store.readBlob(img.configDigest)
          : readFileSync(files.get(byDigest(files, img.configDigest, path))!.file);
        const config = parseConfig(configBytes, { operation: OPERATION, path });
        checkConfigMatchesManifest(config, img.manifest, { operation: OPERATION, path });
        const diffIds = config.rootfs.diff_ids;
        const blobs = [img.configDigest, ...img.manifest.layers.map((l) => l.digest)];
        const chains = chainIds(diffIds);
        const manifestDigest = digestOf(img.manifestBytes);
        // Leased before the blobs land, so a concurrent gc cannot take them before the image is
        // recorded; on failure the lease goes and gc takes back whatever no image uses.
        const release = store.lease([...chains, ...blobs, manifestDigest]);
        let recorded = false;
        try {
          // Move verified blobs into the store; a blob already there is left as is.
          for (const d of blobs) {
            if (!store.hasBlob(d)) store.commitBlobFile(files.get(byDigest(files, d, path))!.file, d);
          }
          if (!store.hasBlob(manifestDigest)) store.putBlob(manifestDigest, img.manifestBytes);
          try {
            await ensureLayers(store, undefined, undefined, img.manifest.layers, diffIds, chains, {});
          } catch (err) {
            // Say which archive the bad layer came from; the code and details stay the unpacker's.
            if (err instanceof BerthError) {
              throw new BerthError(err.code, `load ${path}: ${err.message}`, { ...err.data, path: err.data.path ?? path }, { cause: err });
            }
            throw err;
          }
          const rec = await store.locked(() => {
            const rec: ImageRecord =
              store.readImage(img.configDigest) ??
              newImageRecord({
                id: img.configDigest,
                manifestDigest,
                manifestMediaType: img.manifest.mediaType,
                layers: img.manifest.layers,
                diffIds,
                chains,
              });
            store.writeImage(rec);
            for (const t of img.tags) catalog.setTag(t, rec);
            return rec;
          });
          recorded = true;
          for (const t of img.tags) {
            allTags.push(t);
            events.emit('image', 'load', rec.id, { name: familiarName(parseReference(t)) });
          }
          if (img.tags.length === 0) events.emit('image', 'load', rec.id, {});
          records.push(rec);
        } finally {
          release();
          // A refused image leaves none of its blobs (or layers) behind.
          // Best effort (the refusal is the error to report); gc at the next start takes what is left.
          if (!recorded) await store.locked(() => store.gc()).catch(() => undefined);
        }
      }
      return { records, tags: allTags };
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
}

/** Reads the archive once; returns archive name -> staged file (symlinks resolved to their target). */
async function stageArchive(path: string, stage: string): Promise<Map<string, Staged>> {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile())
      throw new BerthError(ErrorCode.InvalidArgument, `load: ${path} is not a regular file`, { operation: OPERATION, path });
    size = st.size;
  } catch (err) {
    throw systemError(OPERATION, err, { path });
  }
  if (size === 0) throw invalid(path, 'the file is empty');
  const files = new Map<string, Staged>();
  const links = new Map<string, string>();
  try {
    await stageEntries(path, stage, files, links);
  } catch (err) {
    // The tar reader and the decompressors report malformed input as InvalidContent without
    // knowing which file they read: here it is the archive itself that is not one.
    if (err instanceof BerthError && err.code === ErrorCode.InvalidContent) {
      throw new BerthError(
        ErrorCode.InvalidArchive,
        `load ${path}: not a readable tar archive: ${err.message}`,
        { ...err.data, operation: OPERATION, path },
        { cause: err },
      );
    }
    throw err;
  }
  for (const [name, target] of links) {
    let t = target;
    for (let hops = 0; hops < 8 && !files.has(t) && links.has(t); hops++) t = links.get(t)!;
    const staged = files.get(t);
    if (staged) files.set(name, staged);
  }
  return files;
}

async function stageEntries(path: string, stage: string, files: Map<string, Staged>, links: Map<string, string>): Promise<void> {
  let n = 0;
  for await (const entry of readTar(decompressingSource(createReadStream(path, { highWaterMark: 1 << 20 })))) {
    const name = archiveName(entry.header.name, path);
    if (entry.header.type === 'symlink' || entry.header.type === 'hardlink') {
      const target = entry.header.type === 'symlink' ? posix.join(posix.dirname(name), entry.header.linkname) : entry.header.linkname;
      links.set(name, archiveName(target, path));
      continue;
    }
    if (entry.header.type !== 'file') continue;
    if (files.size >= 100_000) throw invalid(path, 'the archive has too many files');
    const file = join(stage, String(n++));
    const hash = createHash('sha256');
    let fd = -1;
    let bytes = 0;
    try {
      fd = openSync(file, 'wx', 0o600);
      for await (const chunk of entry.content) {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        bytes += chunk.length;
      }
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw systemError(OPERATION, err, { path: file });
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    files.set(name, { file, digest: 'sha256:' + hash.digest('hex'), size: bytes });
  }
}

function archiveName(raw: string, path: string): string {
  const norm = posix.normalize('/' + raw).slice(1);
  if (norm.startsWith('..') || raw.split('/').includes('..')) {
    throw new BerthError(ErrorCode.InvalidArchive, `load ${path}: entry "${raw}" points outside the archive`, {
      operation: OPERATION,
      path,
      entry: raw,
    });
  }
  return norm.replace(/\/$/, '');
}

function readJson(files: Map<string, Staged>, name: string, path: string, limit: number): unknown {
  const f = files.get(name);
  if (!f) throw invalid(path, `"${name}" is missing`);
  if (f.size > limit) throw invalid(path, `"${name}" is larger than ${limit} bytes`);
  try {
    return JSON.parse(readFileSync(f.file, 'utf8'));
  } catch (err) {
    throw invalid(path, `"${name}" is not valid JSON (${(err as Error).message})`);
  }
}

/** docker-save: manifest.json names configs and layer tars by path; we synthesise OCI manifests. */
function dockerArchive(files: Map<string, Staged>, path: string): ImageToImport[] {
  const list = readJson(files, 'manifest.json', path, MAX_MANIFEST_BYTES);
  if (!Array.isArray(list)) throw invalid(path, 'manifest.json is not a list');
  return list.map((item, i) => {
    const e = item as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
      throw invalid(path, `manifest.json entry ${i} needs "Config" (string) and "Layers" (list of strings)`);
    }
    const cfgName = archiveName(e.Config, path);
    const cfg = files.get(cfgName);
    if (!cfg) throw invalid(path, `config "${e.Config}" is missing`);
    if (cfg.size > MAX_CONFIG_BYTES) throw invalid(path, `config "${e.Config}" is too large`);
    const layers: Descriptor[] = (e.Layers as string[]).map((l) => {
      const staged = files.get(archiveName(l, path));
      if (!staged) throw invalid(path, `layer "${l}" is missing`);
      return { mediaType: layerMediaType(staged.file), digest: staged.digest, size: staged.size };
    });
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
      layers,
    };
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags.map((t) => normaliseTag(t, path)) : [];
    return { configDigest: cfg.digest, manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)), tags };
  });
}

/** OCI layout: index.json -> manifests (or nested indexes: the host's platform is chosen). */
function ociLayout(files: Map<string, Staged>, path: string): ImageToImport[] {
  if (!files.has('oci-layout') && !files.has('index.json')) {
    throw invalid(path, 'it is neither a docker-save archive (manifest.json) nor an OCI layout (oci-layout, index.json)');
  }
  const indexFile = files.get('index.json');
  if (!indexFile) throw invalid(path, '"index.json" is missing');
  const out: ImageToImport[] = [];
  const visit = (bytes: Buffer, tag: string | undefined, depth: number) => {
    const doc = parseManifestDocument(bytes, undefined, { operation: OPERATION, path });
    if (doc.kind === 'index') {
      if (depth > 2) throw invalid(path, 'indexes are nested more than two deep');
      const entries = doc.index.manifests;
      const chosen = depth === 0 ? entries : [selectManifest(doc.index, hostPlatform())].filter((d): d is Descriptor => !!d);
      if (depth > 0 && chosen.length === 0) {
        throw new BerthError(ErrorCode.NoMatchingPlatform, `load ${path}: no image for ${platformString(hostPlatform())} in the archive`, {
          operation: OPERATION,
          path,
          platform: platformString(hostPlatform()),
        });
      }
      for (const d of chosen) {
        const name = d.annotations?.['org.opencontainers.image.ref.name'] ?? d.annotations?.['io.containerd.image.name'];
        visit(readBlobFile(files, d, path), tag ?? name, depth + 1);
      }
      return;
    }
    const manifest = doc.manifest;
    out.push({ configDigest: manifest.config.digest, manifest, manifestBytes: bytes, tags: tag ? [normaliseTag(tag, path)] : [] });
  };
  if (indexFile.size > MAX_MANIFEST_BYTES) throw invalid(path, '"index.json" is too large');
  visit(readFileSync(indexFile.file), undefined, 0);
  return out;
}

function readBlobFile(files: Map<string, Staged>, d: Descriptor, path: string): Buffer {
  const staged = files.get(byDigest(files, d.digest, path))!;
  if (staged.size > MAX_MANIFEST_BYTES) throw invalid(path, `manifest ${d.digest} is too large`);
  return readFileSync(staged.file);
}

/** The archive name of blob `digest` (blobs/sha256/<hex>), checked against what it hashed to. */
function byDigest(files: Map<string, Staged>, digest: string, path: string): string {
  const { algorithm, hex } = parseDigest(digest, { operation: OPERATION, path });
  const byName = `blobs/${algorithm}/${hex}`;
  const staged = files.get(byName);
  if (staged) {
    if (staged.digest !== digest) {
      throw new BerthError(ErrorCode.DigestMismatch, `load ${path}: "${byName}" hashes to ${staged.digest}; the archive is corrupt`, {
        operation: OPERATION,
        path,
        digest,
      });
    }
    return byName;
  }
  // docker-save archives name files freely: find the one with this content.
  for (const [name, f] of files) if (f.digest === digest) return name;
  throw invalid(path, `blob ${digest} is missing`);
}

function normaliseTag(t: unknown, path: string): string {
  if (typeof t !== 'string') throw invalid(path, 'a tag is not a string');
  let ref: ImageReference;
  try {
    ref = withDefaultTag(parseReference(t));
  } catch (err) {
    throw invalid(path, `tag "${t}" is not a valid reference (${(err as Error).message})`);
  }
  if (ref.digest) throw invalid(path, `tag "${t}" has a digest`);
  return formatReference(ref);
}

/** Media type of a staged layer from its magic bytes. */
function layerMediaType(file: string): string {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(4);
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return MediaType.OciLayerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}

function invalid(path: string, what: string): BerthError {
  return new BerthError(ErrorCode.InvalidArchive, `load ${path}: ${what}`, { operation: OPERATION, path });
}
