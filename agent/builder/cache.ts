/**
 * The build cache: what a build step produced, keyed by what it was given, so an unchanged step is
 * not run again.
 *
 * Key: sha256 over the step's parent (its config digest and top chain ID), the instruction after
 * variable substitution (as it goes into the history, e.g. "RUN |1 V=2 /bin/sh -c make"), the
 * build arguments in effect in the stage, and for COPY and ADD the digest of what is copied (paths,
 * types, modes, owners, link targets and content; not mtimes). The config digest covers the
 * parent's whole history and layers, so a changed step changes the key of every step after it.
 *
 * Value: the resulting config (the exact JSON text, so a cached step gives the same image ID as
 * the run that stored it) and the image layers it names. One file per key under
 * `$BERTH_ROOT/build-cache/<key>.json`, written atomically (temp file + rename), so entries survive
 * agent restarts and a crash leaves either the old entry or the new one.
 *
 * Entries are hints, never trusted: one that does not parse, whose layers do not chain to the
 * config's diff_ids, or whose layers (or their blobs) were removed from the store since (`rmi`,
 * `image prune`), is a miss, never an error.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, isErrno } from '../errors';
import { parseConfig } from '../oci';
import { mkdirp, writeFileAtomic } from '../store/fsutil';
import { chainIds, type Store } from '../store/store';
import type { StoredLayer } from '../runtime/containers/commit';

/** Largest entry read back (a config plus its layer list). */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const KEY_RE = /^[0-9a-f]{64}$/;

export interface CacheKeyParts {
  /** The parent's config digest ("sha256:..."). */
  parentConfig: string;
  /** The parent's top chain ID, or "" for no layers. */
  parentChain: string;
  /** The instruction after substitution. */
  instruction: string;
  /** "NAME=value" of the build arguments in effect, in declaration order. */
  args: string[];
  /** COPY/ADD: the digest of what is copied. */
  content?: string;
}

export interface CacheValue {
  /** The resulting config, exactly as stored. */
  config: string;
  layers: StoredLayer[];
}

export class BuildCache {
  readonly dir: string;

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.dir = join(store.root, 'build-cache');
  }

  /** The key of a step (64 hex digits). */
  static key(parts: CacheKeyParts): string {
    const doc = JSON.stringify([
      'berth-build-cache-v1',
      parts.parentConfig,
      parts.parentChain,
      parts.instruction,
      parts.args,
      parts.content ?? null,
    ]);
    return createHash('sha256').update(doc).digest('hex');
  }

  private path(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`bad build cache key ${key}`);
    return join(this.dir, `${key}.json`);
  }

  /** The stored result of `key` when it is sound and all its layers are still stored; else undefined. */
  get(key: string): CacheValue | undefined {
    const path = this.path(key);
    let text: string;
    try {
      if (statSync(path).size > MAX_ENTRY_BYTES) return this.miss(key, 'the entry is too large');
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined; // no entry: a miss
      throw e;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      return this.miss(key, 'the entry is not JSON');
    }
    const v = doc as { config?: unknown; layers?: unknown };
    if (typeof v !== 'object' || v === null || typeof v.config !== 'string' || !Array.isArray(v.layers))
      return this.miss(key, 'the entry has the wrong shape');
    const layers: StoredLayer[] = [];
    for (const l of v.layers as unknown[]) {
      const x = l as Record<string, unknown>;
      if (
        typeof x !== 'object' ||
        x === null ||
        typeof x.digest !== 'string' ||
        !DIGEST_RE.test(x.digest) ||
        typeof x.mediaType !== 'string' ||
        typeof x.size !== 'number' ||
        !Number.isSafeInteger(x.size) ||
        x.size < 0 ||
        typeof x.diffId !== 'string' ||
        !DIGEST_RE.test(x.diffId) ||
        typeof x.chainId !== 'string' ||
        !DIGEST_RE.test(x.chainId)
      ) {
        return this.miss(key, 'a layer of the entry is malformed');
      }
      layers.push({ digest: x.digest, mediaType: x.mediaType, size: x.size, diffId: x.diffId, chainId: x.chainId });
    }
    const chains = chainIds(layers.map((l) => l.diffId));
    if (chains.some((c, i) => c !== layers[i].chainId)) return this.miss(key, 'the layers do not chain');
    try {
      const config = parseConfig(Buffer.from(v.config));
      const ids = config.rootfs.diff_ids;
      if (ids.length !== layers.length || ids.some((d, i) => d !== layers[i].diffId))
        return this.miss(key, 'the config does not name the layers');
    } catch (e) {
      if (!(e instanceof BerthError)) throw e; // the config parser's InvalidContent/UnsupportedManifest
      return this.miss(key, 'the config does not parse');
    }
    // Removed since (rmi, prune): a miss. Not logged: that is the normal life of a cache.
    if (layers.some((l) => !this.store.hasLayer(l.chainId) || !this.store.hasBlob(l.digest))) return undefined;
    return { config: v.config, layers };
  }

  /** Stores the result of `key` (replacing any entry). A failure is logged, never fatal: a cache is optional. */
  put(key: string, value: CacheValue): void {
    try {
      mkdirp(this.dir, 0o700);
      writeFileAtomic(this.path(key), JSON.stringify({ config: value.config, layers: value.layers }), 0o600, { durable: false });
    } catch (e) {
      this.log(`build cache: could not store ${key.slice(0, 12)}: ${(e as Error).message}`);
    }
  }

  private miss(key: string, why: string): undefined {
    this.log(`build cache: ignoring entry ${key.slice(0, 12)}: ${why}`);
    return undefined;
  }
}
