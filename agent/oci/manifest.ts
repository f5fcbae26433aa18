/**
 * OCI and Docker image documents: the TypeScript shapes of manifests, indexes and configs, and their validating parsers.
 *
 * Every parser here treats its input as hostile: bytes come from a registry or an archive and are
 * checked for size, JSON shape, field types, digest syntax and media types before anything else
 * looks at them. Parsers return fresh objects holding only the fields described here (unknown
 * fields are dropped; keep the original bytes if their digest matters). Failures throw
 * BerthError(InvalidContent) for malformed content and BerthError(UnsupportedManifest) for
 * well-formed content Berth does not pull (Docker schema 1, artifacts, foreign layers).
 *
 * Every parser takes an optional {@link ParseContext}, copied into the error's `data`, so callers
 * can name the image ("pull docker.io/library/busybox:latest: ...").
 */
import { type BerthError, ErrorCode } from '../errors';
import { isDigest, parseFailure, type ParseContext } from './digest';
import {
  CONFIG_MEDIA_TYPES,
  FOREIGN_LAYER_MEDIA_TYPES,
  INDEX_MEDIA_TYPES,
  LAYER_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MAX_CONFIG_BYTES,
  MAX_HISTORY,
  MAX_INDEX_ENTRIES,
  MAX_LAYERS,
  MAX_MANIFEST_BYTES,
  MediaType,
  SCHEMA1_MEDIA_TYPES,
} from './mediaTypes';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** A platform as an index entry names it. */
export interface OciPlatform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

/** A content descriptor: what a blob or manifest is, its digest and size. */
export interface Descriptor {
  mediaType: string;
  /** "sha256:<64 hex>" or "sha512:<128 hex>". */
  digest: string;
  /** Size in bytes: a non-negative safe integer. */
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Only meaningful in index entries. */
  platform?: OciPlatform;
  artifactType?: string;
}

/** A single-platform image manifest (OCI image manifest or Docker schema 2). */
export interface ImageManifest {
  schemaVersion: 2;
  /** The effective media type: from the body, else the hint, else OCI. */
  mediaType: string;
  config: Descriptor;
  /** Bottom layer first; at most {@link MAX_LAYERS}. */
  layers: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: Descriptor;
}

/** A multi-platform index (OCI image index or Docker manifest list). */
export interface ImageIndex {
  schemaVersion: 2;
  /** The effective media type: from the body, else the hint, else OCI. */
  mediaType: string;
  /** At most {@link MAX_INDEX_ENTRIES}. */
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: Descriptor;
}

/** How to run the image (the config's `config` object); every field optional. */
export interface ImageConfigRun {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** One build step in the config's history. */
export interface HistoryItem {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI image config (also what Docker's config is). */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  /** RFC 3339 timestamp, as found (not validated beyond being a string). */
  created?: string;
  author?: string;
  config?: ImageConfigRun;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryItem[];
}

// ---------------------------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------------------------

const fail = parseFailure;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array, limit: number, what: string, ctx: ParseContext): Json {
  if (bytes.length > limit) {
    throw fail(ErrorCode.InvalidContent, ctx, `the ${what} is ${bytes.length} bytes; at most ${limit} are accepted`);
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw fail(ErrorCode.InvalidContent, ctx, `the ${what} is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw fail(ErrorCode.InvalidContent, ctx, `the ${what} is not a JSON object`);
  return v;
}

/** Reads an optional field: absent and null give undefined; otherwise `check` must accept it. */
function opt<T>(o: Json, key: string, check: (v: unknown) => v is T, what: string, ctx: ParseContext, expected: string): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw fail(ErrorCode.InvalidContent, ctx, `${what} field "${key}" must be ${expected}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every(isString);
const isEmptyObjectMap = (v: unknown): v is Record<string, Record<string, never>> => isObject(v) && Object.values(v).every(isObject);

function schema1(ctx: ParseContext): BerthError {
  return fail(
    ErrorCode.UnsupportedManifest,
    ctx,
    'Docker schema 1 manifests are not supported; the image must be re-pushed with a current client',
  );
}

function stripParams(mediaType: string | undefined): string | undefined {
  if (mediaType === undefined) return undefined;
  return mediaType.split(';')[0].trim().toLowerCase() || undefined;
}

function parseDescriptor(v: unknown, what: string, ctx: ParseContext): Descriptor {
  if (!isObject(v)) throw fail(ErrorCode.InvalidContent, ctx, `${what} is not a JSON object`);
  const mediaType = v.mediaType;
  if (typeof mediaType !== 'string' || mediaType.length === 0 || mediaType.length > 255) {
    throw fail(ErrorCode.InvalidContent, ctx, `${what} has no valid "mediaType"`);
  }
  if (!isDigest(v.digest)) {
    throw fail(ErrorCode.InvalidContent, ctx, `${what} has an invalid digest (expected sha256: and 64 lowercase hex digits)`);
  }
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw fail(ErrorCode.InvalidContent, ctx, `${what} has an invalid size (must be a non-negative integer)`);
  }
  const d: Descriptor = { mediaType, digest: v.digest, size };
  const urls = opt(v, 'urls', isStringArray, what, ctx, 'an array of strings');
  if (urls) d.urls = urls;
  const annotations = opt(v, 'annotations', isStringMap, what, ctx, 'an object of strings');
  if (annotations) d.annotations = annotations;
  const artifactType = opt(v, 'artifactType', isString, what, ctx, 'a string');
  if (artifactType !== undefined) d.artifactType = artifactType;
  const p = opt(v, 'platform', isObject, what, ctx, 'an object');
  if (p) {
    const architecture = p.architecture;
    const os = p.os;
    if (typeof architecture !== 'string' || typeof os !== 'string') {
      throw fail(ErrorCode.InvalidContent, ctx, `${what} has a platform without "os" and "architecture" strings`);
    }
    const platform: OciPlatform = { architecture, os };
    const variant = opt(p, 'variant', isString, `${what} platform`, ctx, 'a string');
    if (variant !== undefined) platform.variant = variant;
    const osVersion = opt(p, 'os.version', isString, `${what} platform`, ctx, 'a string');
    if (osVersion !== undefined) platform['os.version'] = osVersion;
    const osFeatures = opt(p, 'os.features', isStringArray, `${what} platform`, ctx, 'an array of strings');
    if (osFeatures) platform['os.features'] = osFeatures;
    const features = opt(p, 'features', isStringArray, `${what} platform`, ctx, 'an array of strings');
    if (features) platform.features = features;
    d.platform = platform;
  }
  return d;
}

function checkSchemaVersion(o: Json, ctx: ParseContext, what: string): void {
  if (o.schemaVersion === 1) throw schema1(ctx);
  if (o.schemaVersion !== 2)
    throw fail(ErrorCode.InvalidContent, ctx, `the ${what} has schemaVersion ${JSON.stringify(o.schemaVersion)}; expected 2`);
}

/** Which kind of document a manifest body is, from its own mediaType, else its shape and the hint. */
function classify(o: Json, hint: string | undefined, ctx: ParseContext): { kind: 'manifest' | 'index'; mediaType: string } {
  const body = o.mediaType;
  if (body !== undefined && typeof body !== 'string')
    throw fail(ErrorCode.InvalidContent, ctx, 'the manifest field "mediaType" must be a string');
  const own = stripParams(body);
  const h = stripParams(hint);
  if (o.schemaVersion === 1 || (own && SCHEMA1_MEDIA_TYPES.includes(own))) throw schema1(ctx);
  if (own !== undefined) {
    if (MANIFEST_MEDIA_TYPES.includes(own)) return { kind: 'manifest', mediaType: own };
    if (INDEX_MEDIA_TYPES.includes(own)) return { kind: 'index', mediaType: own };
    throw fail(
      ErrorCode.UnsupportedManifest,
      ctx,
      `the manifest has media type "${own.slice(0, 100)}", which is not a container image manifest`,
    );
  }
  // OCI allows an absent mediaType: go by shape, taking the media type from the hint when it agrees.
  if (Array.isArray(o.manifests)) return { kind: 'index', mediaType: h && INDEX_MEDIA_TYPES.includes(h) ? h : MediaType.OciIndex };
  if (o.config !== undefined || Array.isArray(o.layers)) {
    return { kind: 'manifest', mediaType: h && MANIFEST_MEDIA_TYPES.includes(h) ? h : MediaType.OciManifest };
  }
  if (h && SCHEMA1_MEDIA_TYPES.includes(h)) throw schema1(ctx);
  throw fail(ErrorCode.UnsupportedManifest, ctx, 'the document is neither an image manifest nor an image index');
}

function buildManifest(o: Json, mediaType: string, ctx: ParseContext): ImageManifest {
  checkSchemaVersion(o, ctx, 'manifest');
  const config = parseDescriptor(o.config, 'the manifest config', ctx);
  if (!CONFIG_MEDIA_TYPES.includes(config.mediaType)) {
    throw fail(
      ErrorCode.UnsupportedManifest,
      ctx,
      `the manifest's config has media type "${config.mediaType.slice(0, 100)}": this is an artifact, not a container image`,
    );
  }
  if (!Array.isArray(o.layers)) throw fail(ErrorCode.InvalidContent, ctx, 'the manifest has no "layers" array');
  if (o.layers.length > MAX_LAYERS) {
    throw fail(ErrorCode.InvalidContent, ctx, `the manifest lists ${o.layers.length} layers; at most ${MAX_LAYERS} are accepted`);
  }
  const layers = o.layers.map((l, i) => {
    const d = parseDescriptor(l, `layer ${i}`, ctx);
    if (FOREIGN_LAYER_MEDIA_TYPES.includes(d.mediaType)) {
      throw fail(
        ErrorCode.UnsupportedManifest,
        { ...ctx, digest: d.digest },
        `layer ${i} is a foreign (non-distributable) layer whose content is not in the registry; Berth does not pull such images (they are usually Windows base images)`,
      );
    }
    if (!LAYER_MEDIA_TYPES.includes(d.mediaType)) {
      throw fail(
        ErrorCode.UnsupportedManifest,
        { ...ctx, digest: d.digest },
        `layer ${i} has unsupported media type "${d.mediaType.slice(0, 100)}"`,
      );
    }
    return d;
  });
  const m: ImageManifest = { schemaVersion: 2, mediaType, config, layers };
  const annotations = opt(o, 'annotations', isStringMap, 'the manifest', ctx, 'an object of strings');
  if (annotations) m.annotations = annotations;
  const artifactType = opt(o, 'artifactType', isString, 'the manifest', ctx, 'a string');
  if (artifactType !== undefined) m.artifactType = artifactType;
  if (o.subject !== undefined && o.subject !== null) m.subject = parseDescriptor(o.subject, 'the manifest subject', ctx);
  return m;
}

function buildIndex(o: Json, mediaType: string, ctx: ParseContext): ImageIndex {
  checkSchemaVersion(o, ctx, 'index');
  if (!Array.isArray(o.manifests)) throw fail(ErrorCode.InvalidContent, ctx, 'the index has no "manifests" array');
  if (o.manifests.length > MAX_INDEX_ENTRIES) {
    throw fail(ErrorCode.InvalidContent, ctx, `the index lists ${o.manifests.length} entries; at most ${MAX_INDEX_ENTRIES} are accepted`);
  }
  const manifests = o.manifests.map((e, i) => parseDescriptor(e, `index entry ${i}`, ctx));
  const idx: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  const annotations = opt(o, 'annotations', isStringMap, 'the index', ctx, 'an object of strings');
  if (annotations) idx.annotations = annotations;
  const artifactType = opt(o, 'artifactType', isString, 'the index', ctx, 'a string');
  if (artifactType !== undefined) idx.artifactType = artifactType;
  if (o.subject !== undefined && o.subject !== null) idx.subject = parseDescriptor(o.subject, 'the index subject', ctx);
  return idx;
}

/** A manifest-endpoint document: either a single image manifest or an index. */
export type ManifestDocument =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

/**
 * Parses whatever a manifest endpoint returned (≤ 4 MiB), deciding manifest vs index from the
 * body's `mediaType`, else `mediaTypeHint` (the Content-Type; parameters ignored), else the shape.
 * Schema 1 => UnsupportedManifest; unknown media types => UnsupportedManifest; malformed =>
 * InvalidContent.
 */
export function parseManifestDocument(bytes: Uint8Array, mediaTypeHint?: string, ctx: ParseContext = {}): ManifestDocument {
  const o = parseJson(bytes, MAX_MANIFEST_BYTES, 'manifest', ctx);
  const { kind, mediaType } = classify(o, mediaTypeHint, ctx);
  if (kind === 'index') return { kind, mediaType, index: buildIndex(o, mediaType, ctx) };
  return { kind, mediaType, manifest: buildManifest(o, mediaType, ctx) };
}

/**
 * Parses a single-platform image manifest (OCI or Docker schema 2), ≤ 4 MiB, ≤ 1000 layers.
 * Checks every descriptor (media type, digest syntax, non-negative safe-integer size); the config
 * must be an image config; layers must be tar, tar+gzip or tar+zstd (foreign/non-distributable
 * layers refused with UnsupportedManifest). An index given here => UnsupportedManifest.
 */
export function parseManifest(bytes: Uint8Array, mediaTypeHint?: string, ctx: ParseContext = {}): ImageManifest {
  const doc = parseManifestDocument(bytes, mediaTypeHint, ctx);
  if (doc.kind !== 'manifest') throw fail(ErrorCode.UnsupportedManifest, ctx, 'expected an image manifest but got an image index');
  return doc.manifest;
}

/** Parses an OCI image index or Docker manifest list (≤ 4 MiB, ≤ 1000 entries); see {@link parseManifest}. */
export function parseIndex(bytes: Uint8Array, mediaTypeHint?: string, ctx: ParseContext = {}): ImageIndex {
  const doc = parseManifestDocument(bytes, mediaTypeHint, ctx);
  if (doc.kind !== 'index') throw fail(ErrorCode.UnsupportedManifest, ctx, 'expected an image index but got an image manifest');
  return doc.index;
}

/**
 * Parses an image config (≤ 8 MiB): `architecture` and `os` strings are required, `rootfs` must be
 * {type:"layers", diff_ids:[sha256 digests]} with at most 1000 entries; every optional field is
 * type-checked (null counts as absent). Unknown fields are dropped.
 */
export function parseConfig(bytes: Uint8Array, ctx: ParseContext = {}): ImageConfig {
  const o = parseJson(bytes, MAX_CONFIG_BYTES, 'image config', ctx);
  const what = 'the image config';
  if (typeof o.architecture !== 'string' || typeof o.os !== 'string') {
    throw fail(ErrorCode.InvalidContent, ctx, 'the image config has no "architecture" and "os" strings');
  }
  const rootfs = o.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw fail(ErrorCode.InvalidContent, ctx, 'the image config has no valid "rootfs" (type "layers" with "diff_ids")');
  }
  if (rootfs.diff_ids.length > MAX_LAYERS) {
    throw fail(
      ErrorCode.InvalidContent,
      ctx,
      `the image config lists ${rootfs.diff_ids.length} layers; at most ${MAX_LAYERS} are accepted`,
    );
  }
  rootfs.diff_ids.forEach((d, i) => {
    if (!isDigest(d)) throw fail(ErrorCode.InvalidContent, ctx, `the image config's diff_id ${i} is not a valid digest`);
  });
  const c: ImageConfig = {
    architecture: o.architecture,
    os: o.os,
    rootfs: { type: 'layers', diff_ids: [...(rootfs.diff_ids as string[])] },
  };
  const variant = opt(o, 'variant', isString, what, ctx, 'a string');
  if (variant !== undefined) c.variant = variant;
  const osVersion = opt(o, 'os.version', isString, what, ctx, 'a string');
  if (osVersion !== undefined) c['os.version'] = osVersion;
  const created = opt(o, 'created', isString, what, ctx, 'a string');
  if (created !== undefined) c.created = created;
  const author = opt(o, 'author', isString, what, ctx, 'a string');
  if (author !== undefined) c.author = author;

  const rc = opt(o, 'config', isObject, what, ctx, 'an object');
  if (rc) {
    const w = 'the image config "config"';
    const run: ImageConfigRun = {};
    const user = opt(rc, 'User', isString, w, ctx, 'a string');
    if (user !== undefined) run.User = user;
    const env = opt(rc, 'Env', isStringArray, w, ctx, 'an array of strings');
    if (env) run.Env = env;
    if (rc.Entrypoint === null) run.Entrypoint = null;
    else {
      const ep = opt(rc, 'Entrypoint', isStringArray, w, ctx, 'an array of strings');
      if (ep) run.Entrypoint = ep;
    }
    if (rc.Cmd === null) run.Cmd = null;
    else {
      const cmd = opt(rc, 'Cmd', isStringArray, w, ctx, 'an array of strings');
      if (cmd) run.Cmd = cmd;
    }
    const wd = opt(rc, 'WorkingDir', isString, w, ctx, 'a string');
    if (wd !== undefined) run.WorkingDir = wd;
    const ports = opt(rc, 'ExposedPorts', isEmptyObjectMap, w, ctx, 'an object of objects');
    if (ports) run.ExposedPorts = emptyMap(ports);
    const vols = opt(rc, 'Volumes', isEmptyObjectMap, w, ctx, 'an object of objects');
    if (vols) run.Volumes = emptyMap(vols);
    const labels = opt(rc, 'Labels', isStringMap, w, ctx, 'an object of strings');
    if (labels) run.Labels = { ...labels };
    const stop = opt(rc, 'StopSignal', isString, w, ctx, 'a string');
    if (stop !== undefined) run.StopSignal = stop;
    c.config = run;
  }

  const history = opt(o, 'history', Array.isArray, what, ctx, 'an array');
  if (history) {
    if (history.length > MAX_HISTORY) {
      throw fail(
        ErrorCode.InvalidContent,
        ctx,
        `the image config has ${history.length} history entries; at most ${MAX_HISTORY} are accepted`,
      );
    }
    c.history = history.map((h: unknown, i) => {
      const hw = `history entry ${i}`;
      if (!isObject(h)) throw fail(ErrorCode.InvalidContent, ctx, `the image config's ${hw} is not an object`);
      const item: HistoryItem = {};
      for (const k of ['created', 'created_by', 'author', 'comment'] as const) {
        const s = opt(h, k, isString, hw, ctx, 'a string');
        if (s !== undefined) item[k] = s;
      }
      const empty = opt(h, 'empty_layer', isBool, hw, ctx, 'a boolean');
      if (empty !== undefined) item.empty_layer = empty;
      return item;
    });
  }
  return c;
}

function emptyMap(m: Record<string, unknown>): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const k of Object.keys(m)) out[k] = {};
  return out;
}

/**
 * Throws BerthError(InvalidContent) unless the config describes exactly as many layers
 * (`rootfs.diff_ids`) as the manifest lists. History length is not checked.
 */
export function checkConfigMatchesManifest(config: ImageConfig, manifest: ImageManifest, ctx: ParseContext = {}): void {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw fail(
      ErrorCode.InvalidContent,
      ctx,
      `the image config lists ${config.rootfs.diff_ids.length} layers but the manifest lists ${manifest.layers.length}; the image is corrupt`,
    );
  }
}
