/**
 * `image/save`: writes images as a `docker save` archive, the format `docker load` and `podman
 * load` read: manifest.json = [{Config, RepoTags, Layers}], each config as <hex>.json and each
 * layer as <diffID-hex>/layer.tar (uncompressed; its sha256 is the config's diff_id, which loaders
 * verify). Layers are decompressed from the stored blobs as they are written, one pass each.
 *
 * The archive is built in a temp file beside the target and renamed into place, so a failed save
 * never leaves a truncated archive under the user's name; it is given to the caller's uid/gid.
 */
import { closeSync, createReadStream, fchownSync, fsyncSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode, systemError } from '../errors';
import { checkCallerAccess } from './access';
import { decompressingSource } from '../oci/decompress';
import { familiarName, parseReference } from '../oci/reference';
import type { EventHub } from '../events';
import type { Store } from '../store/store';
import { type ImageCatalog, invertRefs } from './catalog';
import { contentPadding, encodeHeader, endOfArchive } from '../oci/tarWriter';

export interface SaverDeps {
  store: Store;
  catalog: ImageCatalog;
  events: EventHub;
}

export class Saver {
  constructor(private readonly deps: SaverDeps) {}

  /**
   * Writes the images `references` name to `path` (replaced atomically). `peer`: who asked; a
   * caller other than root may only write where it could itself. Emits `save` per image.
   */
  async save(references: string[], path: string, peer?: PeerCred): Promise<{ path: string; size: number }> {
    const { store, catalog, events } = this.deps;
    const records = references.map((r) => catalog.lookup(r, 'save'));
    try {
      const st = lstatSync(path);
      if (!st.isFile() && !st.isSymbolicLink()) {
        throw new BerthError(ErrorCode.InvalidArgument, `save: ${path} exists and is not a regular file`, { operation: 'save', path });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err instanceof BerthError ? err : systemError('save', err, { path });
    }
    checkCallerAccess('save', path, 'write', peer);
    const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.berth-tmp`);
    let fd = -1;
    let size = 0;
    const write = (buf: Buffer) => {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      size += buf.length;
    };
    try {
      try {
        fd = openSync(tmp, 'wx', 0o644);
      } catch (err) {
        // Name the file the user asked for, not the hidden temp file beside it.
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
          throw new BerthError(ErrorCode.System, `save: cannot write ${path}: the directory ${dirname(path)} does not exist`, {
            operation: 'save',
            path,
            syscall: 'open',
            errno: e.code,
          });
        }
        throw systemError('save', { code: e.code, syscall: e.syscall, message: e.message }, { path });
      }
      const tagsById = invertRefs(store.readRefs());
      const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
      const written = new Set<string>();
      const mtime = Math.floor(Date.now() / 1000);
      for (const rec of records) {
        const configName = `${rec.id.slice(7)}.json`;
        if (!written.has(configName)) {
          const config = store.readBlob(rec.id);
          write(encodeHeader({ name: configName, size: config.length, mtime }));
          write(config);
          write(contentPadding(config.length));
          written.add(configName);
        }
        const layers: string[] = [];
        for (const l of rec.layers) {
          const dir = l.diffId.slice(7);
          const name = `${dir}/layer.tar`;
          layers.push(name);
          if (written.has(name)) continue;
          const layer = store.readLayer(l.chainId);
          write(encodeHeader({ name: `${dir}/`, type: 'dir', mode: 0o755, mtime }));
          write(encodeHeader({ name, size: layer.tarSize, mtime }));
          let n = 0;
          const blob = store.blobPath(l.digest);
          try {
            for await (const chunk of decompressingSource(createReadStream(blob, { highWaterMark: 1 << 20 }))) {
              n += chunk.length;
              if (n > layer.tarSize) break;
              write(chunk);
            }
          } catch (err) {
            // The stored blob cannot be read back: say which layer of which image, not just "truncated".
            if (err instanceof BerthError) {
              throw new BerthError(
                err.code,
                `save ${path}: stored layer ${l.digest} of image ${rec.id.slice(7, 19)} cannot be read back (${err.message}); the store is damaged`,
                { ...err.data, operation: 'save', path: blob, digest: l.digest },
                { cause: err },
              );
            }
            const e = err as NodeJS.ErrnoException;
            if (e?.syscall !== 'write') throw systemError('save: read stored layer', err, { path: blob, digest: l.digest });
            throw err;
          }
          if (n !== layer.tarSize) {
            throw new BerthError(
              ErrorCode.InvalidContent,
              `save: layer ${l.digest} decompresses to ${n} bytes, not ${layer.tarSize}; the store is damaged`,
              {
                operation: 'save',
                digest: l.digest,
              },
            );
          }
          write(contentPadding(layer.tarSize));
          written.add(name);
        }
        const tags = (tagsById.get(rec.id) ?? []).map((t) => familiarName(parseReference(t)));
        manifest.push({ Config: configName, RepoTags: tags, Layers: layers });
      }
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      write(encodeHeader({ name: 'manifest.json', size: manifestBytes.length, mtime }));
      write(manifestBytes);
      write(contentPadding(manifestBytes.length));
      write(endOfArchive());
      if (peer) fchownSync(fd, peer.uid, peer.gid);
      fsyncSync(fd);
      closeSync(fd);
      fd = -1;
      renameSync(tmp, path);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      rmSync(tmp, { force: true });
      if (err instanceof BerthError) throw err;
      throw systemError('save', err, { path });
    }
    for (const rec of records) events.emit('image', 'save', rec.id);
    return { path, size };
  }
}
