/**
 * The devcontainer.json reader: finds a folder's configuration, parses it (JSON with comments,
 * see jsonc.ts) and checks it into a {@link DevcontainerConfig}, Berth's subset of the Dev
 * Container specification (containers.dev/implementors/json_reference):
 *
 *   image | build {dockerfile, context, args, target}, workspaceFolder, workspaceMount, mounts,
 *   containerEnv, remoteEnv, containerUser, remoteUser, forwardPorts, onCreateCommand,
 *   postCreateCommand, postStartCommand, runArgs (see {@link RUN_ARGS}), capAdd, privileged,
 *   init, plus `name` and `overrideCommand`.
 *
 * Any other top-level key (features, customizations, hostRequirements ...) is not an error: it is
 * listed once in `ignored`, for the caller to show. A known key with a value of the wrong type is an
 * error naming the key ("\"forwardPorts\"[1] must be a port number or \"PORT\" string, got true").
 *
 * Where it is looked for, first found wins: `.devcontainer/devcontainer.json`, then
 * `.devcontainer.json`, in the folder. It must be a regular file of at most {@link MAX_CONFIG_BYTES}.
 *
 * Variables (the spec's): `${localWorkspaceFolder}`, `${localWorkspaceFolderBasename}`,
 * `${containerWorkspaceFolder}`, `${containerWorkspaceFolderBasename}`, `${localEnv:NAME}` and
 * `${localEnv:NAME:default}` (from the environment the client sends), substituted in every string;
 * `${containerEnv:NAME}` only in remoteEnv, where it is resolved against the container's
 * environment once it exists ({@link resolveRemoteEnv}). Unknown variables stay as written.
 *
 * Pure apart from reading the file: every function here is unit-tested without root. Finding and
 * reading the file are in configFile.ts, the runArgs flags in runArgs.ts (both re-exported here).
 */
import { createHash } from 'node:crypto';
import { basename, dirname, isAbsolute, posix, resolve } from 'node:path';
import type { BerthError } from '../errors';
import { configError, MAX_CONFIG_BYTES } from './configFile';
import { JsoncError, parseJsonc, type JsonValue } from './jsonc';
import { parseRunArgs, type RunArgOptions } from './runArgs';

// The file's finding and reading, and runArgs, live in files of their own; importers keep this one.
export { CONFIG_LOCATIONS, configError, findConfig, MAX_CONFIG_BYTES, readConfigText } from './configFile';
export { parseRunArgs, RUN_ARGS, type RunArgOptions } from './runArgs';

/** The most entries a list or map of the config may hold (mounts, runArgs, env, ports...). */
export const MAX_ENTRIES = 1000;
/** Longest string value accepted. */
export const MAX_STRING = 64 * 1024;

/** The top-level keys Berth reads. */
export const KNOWN_KEYS = [
  'name',
  'image',
  'build',
  'workspaceFolder',
  'workspaceMount',
  'mounts',
  'containerEnv',
  'remoteEnv',
  'containerUser',
  'remoteUser',
  'forwardPorts',
  'onCreateCommand',
  'postCreateCommand',
  'postStartCommand',
  'runArgs',
  'capAdd',
  'privileged',
  'init',
  'overrideCommand',
] as const;

/** The lifecycle commands Berth runs, in the order it runs them. */
export const LIFECYCLE_COMMANDS = ['onCreateCommand', 'postCreateCommand', 'postStartCommand'] as const;
export type LifecycleName = (typeof LIFECYCLE_COMMANDS)[number];

/**
 * One lifecycle command: its parts, each an argv (a string is run by `/bin/sh -c`, an array as
 * is). The string and array forms give one part named ""; the object form one per key, run at
 * the same time, as the spec says.
 */
export interface LifecycleCommand {
  parts: { name: string; argv: string[] }[];
}

export interface DevcontainerConfig {
  /** The configuration file (absolute). */
  file: string;
  /** The folder it belongs to (absolute). */
  folder: string;
  name?: string;
  /** Exactly one of `image` and `build`. */
  image?: string;
  build?: {
    /** Absolute path of the Dockerfile. */
    dockerfile: string;
    /** Absolute path of the build context. */
    context: string;
    args: Record<string, string>;
    target?: string;
  };
  /** Absolute path in the container; the working directory of the container and its commands. */
  workspaceFolder: string;
  /** The folder's mount, as a `binds` entry of container/create ("/host:/ctr[:ro]", or "volume:/ctr"). */
  workspaceMount: string;
  /** `mounts`, as `binds` entries. */
  mounts: string[];
  containerEnv: Record<string, string>;
  /** Values may still hold `${containerEnv:NAME}` (see {@link resolveRemoteEnv}); null unsets. */
  remoteEnv: Record<string, string | null>;
  containerUser?: string;
  remoteUser?: string;
  forwardPorts: number[];
  lifecycle: Partial<Record<LifecycleName, LifecycleCommand>>;
  run: RunArgOptions;
  capAdd: string[];
  privileged: boolean;
  init: boolean;
  /** Replace the image's command with one that keeps the container running (default true). */
  overrideCommand: boolean;
  /** Top-level keys that were not read, each once, in file order. */
  ignored: string[];
}

/** The client's side of the substitution: its environment, for `${localEnv:NAME}`. */
export interface ReadOptions {
  localEnv?: Record<string, string>;
}

/** Parses and checks the text of `file` for `folder`. Throws InvalidArgument naming the key or position. */
export function parseDevcontainer(
  text: string,
  file: string,
  folder: string,
  operation: string,
  opts: ReadOptions = {},
): DevcontainerConfig {
  if (text.length > MAX_CONFIG_BYTES)
    throw configError(operation, file, `is more than the ${MAX_CONFIG_BYTES} bytes a devcontainer.json may have`);
  let raw: JsonValue;
  try {
    raw = parseJsonc(text);
  } catch (e) {
    if (e instanceof JsoncError) throw configError(operation, file, e.message, { line: e.line, column: e.column });
    throw e;
  }
  const bad = (what: string) => configError(operation, file, what);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(`the top level must be an object, got ${typeName(raw)}`);
  const top = raw as Record<string, JsonValue>;
  const known = new Set<string>(KNOWN_KEYS);
  const ignored = Object.keys(top).filter((k) => !known.has(k));

  // The workspace folder first: ${containerWorkspaceFolder} in the other strings depends on it.
  const local = { folder, basename: basename(folder) };
  const localVars = (s: string) => substitute(s, { ...local, env: opts.localEnv ?? {} });
  const get = (k: string): JsonValue | undefined => (Object.hasOwn(top, k) ? top[k] : undefined);
  const str = (k: string, v: JsonValue | undefined): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(`"${k}" must be a string, got ${typeName(v)}`);
    if (v.length > MAX_STRING) throw bad(`"${k}" is longer than ${MAX_STRING} characters`);
    return v;
  };
  const workspaceMountRaw = str('workspaceMount', get('workspaceMount'));
  let workspaceFolder = str('workspaceFolder', get('workspaceFolder'));
  if (workspaceFolder !== undefined) workspaceFolder = localVars(workspaceFolder);
  if (workspaceMountRaw !== undefined && workspaceFolder === undefined)
    throw bad('"workspaceMount" needs "workspaceFolder" too (where the mounted folder is in the container)');
  workspaceFolder ??= `/workspaces/${local.basename}`;
  if (!posix.isAbsolute(workspaceFolder))
    throw bad(`"workspaceFolder" must be an absolute path in the container, got "${workspaceFolder}"`);
  if (workspaceFolder.split('/').includes('..')) throw bad(`"workspaceFolder" must not contain "..", got "${workspaceFolder}"`);
  workspaceFolder = posix.normalize(workspaceFolder).replace(/(.)\/+$/, '$1');
  const vars = { ...local, env: opts.localEnv ?? {}, containerFolder: workspaceFolder };
  const sub = (s: string) => substitute(s, vars);
  const s = (k: string) => {
    const v = str(k, get(k));
    return v === undefined ? undefined : sub(v);
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = get(k);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw bad(`"${k}" must be true or false, got ${typeName(v)}`);
    return v;
  };

  // image | build
  const image = s('image');
  const buildRaw = get('build');
  let build: DevcontainerConfig['build'];
  if (buildRaw !== undefined) {
    const b = objectOf('build', buildRaw, bad);
    for (const k of Object.keys(b)) {
      if (!['dockerfile', 'context', 'args', 'target', 'dockerFile', 'cacheFrom', 'options'].includes(k)) ignored.push(`build.${k}`);
    }
    for (const k of ['cacheFrom', 'options']) if (k in b) ignored.push(`build.${k}`);
    const dockerfileRaw = b.dockerfile ?? b.dockerFile;
    if (dockerfileRaw === undefined) throw bad('"build.dockerfile" is required (the Dockerfile, relative to the devcontainer.json)');
    const dockerfile = sub(strIn('build.dockerfile', dockerfileRaw, bad));
    const context = b.context === undefined ? '.' : sub(strIn('build.context', b.context, bad));
    const args: Record<string, string> = {};
    if (b.args !== undefined) {
      for (const [k, v] of Object.entries(objectOf('build.args', b.args, bad))) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw bad(`"build.args" has an invalid name "${k.slice(0, 64)}"`);
        args[k] = sub(strIn(`build.args.${k}`, v, bad));
      }
    }
    const target = b.target === undefined ? undefined : sub(strIn('build.target', b.target, bad));
    const base = dirname(file);
    build = { dockerfile: resolve(base, dockerfile), context: resolve(base, context), args, ...(target ? { target } : {}) };
  }
  if (image !== undefined && build !== undefined) throw bad('give "image" or "build", not both');
  if (image === undefined && build === undefined) {
    if (get('dockerComposeFile') !== undefined)
      throw bad('Docker Compose configurations ("dockerComposeFile") are not supported by Berth; give "image" or "build"');
    throw bad('needs "image" or "build" (Berth runs single-container configurations)');
  }
  if (image === '') throw bad('"image" must not be empty');

  // mounts
  const workspaceMount =
    workspaceMountRaw !== undefined ? mountToBind('workspaceMount', sub(workspaceMountRaw), bad) : `${folder}:${workspaceFolder}`;
  const mounts: string[] = [];
  const mountsRaw = get('mounts');
  if (mountsRaw !== undefined) {
    const list = arrayOf('mounts', mountsRaw, bad);
    list.forEach((m, i) => {
      const key = `mounts[${i}]`;
      if (typeof m === 'string') mounts.push(mountToBind(key, sub(m), bad));
      else if (m !== null && typeof m === 'object' && !Array.isArray(m)) mounts.push(mountObjectToBind(key, m, sub, bad));
      else throw bad(`"${key}" must be a "source=...,target=...,type=..." string or an object, got ${typeName(m)}`);
    });
  }

  const containerEnv = envMap('containerEnv', get('containerEnv'), sub, bad, false) as Record<string, string>;
  const remoteEnv = envMap('remoteEnv', get('remoteEnv'), sub, bad, true);
  const containerUser = s('containerUser') || undefined;
  const remoteUser = s('remoteUser') || undefined;

  // forwardPorts
  const forwardPorts: number[] = [];
  const fp = get('forwardPorts');
  if (fp !== undefined) {
    arrayOf('forwardPorts', fp, bad).forEach((p, i) => {
      const key = `forwardPorts[${i}]`;
      let n: number | undefined;
      if (typeof p === 'number') n = p;
      else if (typeof p === 'string') {
        const m = /^(?:(?:localhost|127\.0\.0\.1):)?([0-9]{1,5})$/.exec(p);
        if (!m)
          throw bad(`"${key}" is "${p.slice(0, 64)}": Berth forwards ports of the workspace container only ("PORT" or "localhost:PORT")`);
        n = Number(m[1]);
      } else {
        throw bad(`"${key}" must be a port number, got ${typeName(p)}`);
      }
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw bad(`"${key}" must be a port from 1 to 65535, got ${n}`);
      if (!forwardPorts.includes(n)) forwardPorts.push(n);
    });
  }

  const lifecycle: DevcontainerConfig['lifecycle'] = {};
  for (const name of LIFECYCLE_COMMANDS) {
    const v = get(name);
    if (v !== undefined) {
      const c = lifecycleCommand(name, v, sub, bad);
      if (c.parts.length) lifecycle[name] = c;
    }
  }

  const capAdd: string[] = [];
  const ca = get('capAdd');
  if (ca !== undefined) for (const [i, c] of arrayOf('capAdd', ca, bad).entries()) capAdd.push(capName(`capAdd[${i}]`, c, bad));

  const runArgsRaw = get('runArgs');
  const runArgs = runArgsRaw === undefined ? [] : arrayOf('runArgs', runArgsRaw, bad).map((a, i) => sub(strIn(`runArgs[${i}]`, a, bad)));
  const run = parseRunArgs(runArgs, bad);

  return {
    file,
    folder,
    ...(s('name') ? { name: s('name') } : {}),
    ...(image !== undefined ? { image } : {}),
    ...(build ? { build } : {}),
    workspaceFolder,
    workspaceMount,
    mounts,
    containerEnv,
    remoteEnv,
    ...(containerUser ? { containerUser } : {}),
    ...(remoteUser ? { remoteUser } : {}),
    forwardPorts,
    lifecycle,
    run,
    capAdd,
    privileged: bool('privileged', false),
    init: bool('init', false),
    overrideCommand: bool('overrideCommand', true),
    ignored: [...new Set(ignored)],
  };
}

/**
 * The hash the workspace container is labelled with: of everything the config decides about the
 * container (the parsed, substituted config, and the Dockerfile's bytes for a build), so a changed
 * line anywhere in them means a new container. Lifecycle commands are part of it too.
 */
export function configHash(c: DevcontainerConfig, dockerfileBytes?: Buffer): string {
  const h = createHash('sha256');
  const { ignored: _ignored, ...rest } = c;
  h.update(stableJson(rest));
  if (dockerfileBytes) h.update('\0dockerfile\0').update(dockerfileBytes);
  return h.digest('hex');
}

/**
 * remoteEnv as "NAME=value" entries for the container's commands: `${containerEnv:NAME}` and
 * `${containerEnv:NAME:default}` resolved against `containerEnv` ("NAME=value" entries, the
 * container's Config.Env); null values (unset) are left out.
 */
export function resolveRemoteEnv(remoteEnv: Record<string, string | null>, containerEnv: readonly string[]): string[] {
  const env = new Map<string, string>();
  for (const e of containerEnv) {
    const eq = e.indexOf('=');
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(remoteEnv)) {
    if (v === null) continue;
    out.push(
      `${k}=${v.replace(/\$\{containerEnv:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (_m, n: string, d?: string) => env.get(n) ?? d ?? '')}`,
    );
  }
  return out;
}

// --- helpers -------------------------------------------------------------------------------------

type Bad = (what: string) => BerthError;

function typeName(v: JsonValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string "${v.slice(0, 64)}${v.length > 64 ? '...' : ''}"`;
  return String(v);
}

function strIn(key: string, v: JsonValue, bad: Bad): string {
  if (typeof v !== 'string') throw bad(`"${key}" must be a string, got ${typeName(v)}`);
  if (v.length > MAX_STRING) throw bad(`"${key}" is longer than ${MAX_STRING} characters`);
  return v;
}

function objectOf(key: string, v: JsonValue, bad: Bad): Record<string, JsonValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`"${key}" must be an object, got ${typeName(v)}`);
  if (Object.keys(v).length > MAX_ENTRIES) throw bad(`"${key}" has more than ${MAX_ENTRIES} entries`);
  return v;
}

function arrayOf(key: string, v: JsonValue, bad: Bad): JsonValue[] {
  if (!Array.isArray(v)) throw bad(`"${key}" must be an array, got ${typeName(v)}`);
  if (v.length > MAX_ENTRIES) throw bad(`"${key}" has more than ${MAX_ENTRIES} entries`);
  return v;
}

interface Vars {
  folder: string;
  basename: string;
  env: Record<string, string>;
  containerFolder?: string;
}

/** The spec's variables (see the module comment); unknown ones, and `${containerEnv:...}`, stay. */
export function substitute(s: string, v: Vars): string {
  if (!s.includes('${')) return s;
  return s.replace(/\$\{([^}]*)\}/g, (whole, body: string) => {
    switch (body) {
      case 'localWorkspaceFolder':
        return v.folder;
      case 'localWorkspaceFolderBasename':
        return v.basename;
      case 'containerWorkspaceFolder':
        return v.containerFolder ?? whole;
      case 'containerWorkspaceFolderBasename':
        return v.containerFolder !== undefined ? posix.basename(v.containerFolder) : whole;
    }
    const m = /^(?:localEnv|env):([A-Za-z_][A-Za-z0-9_]*)(?::(.*))?$/.exec(body);
    if (m) return Object.hasOwn(v.env, m[1]) ? v.env[m[1]] : (m[2] ?? '');
    return whole;
  });
}

function envMap(
  key: string,
  v: JsonValue | undefined,
  sub: (s: string) => string,
  bad: Bad,
  allowNull: boolean,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (v === undefined) return out;
  for (const [k, val] of Object.entries(objectOf(key, v, bad))) {
    if (!/^[^=\0]+$/.test(k) || k.length > 1024) throw bad(`"${key}" has an invalid variable name "${k.slice(0, 64)}"`);
    if (val === null && allowNull) out[k] = null;
    else {
      const s = strIn(`${key}.${k}`, val, bad);
      if (s.includes('\0')) throw bad(`"${key}.${k}" contains a NUL character`);
      out[k] = sub(s);
    }
  }
  return out;
}

function capName(key: string, v: JsonValue, bad: Bad): string {
  const s = strIn(key, v, bad);
  if (!/^(CAP_)?[A-Za-z_]{1,64}$/.test(s)) throw bad(`"${key}" is not a capability name: "${s.slice(0, 64)}"`);
  return s;
}

function lifecycleCommand(name: string, v: JsonValue, sub: (s: string) => string, bad: Bad): LifecycleCommand {
  const argvOf = (key: string, x: JsonValue): string[] => {
    if (typeof x === 'string') {
      const s = sub(strIn(key, x, bad));
      return s.trim() === '' ? [] : ['/bin/sh', '-c', s];
    }
    if (Array.isArray(x)) {
      const argv = arrayOf(key, x, bad).map((a, i) => sub(strIn(`${key}[${i}]`, a, bad)));
      if (argv.length > 0 && argv[0] === '') throw bad(`"${key}[0]" (the program) must not be empty`);
      return argv;
    }
    throw bad(`"${key}" must be a string, an array of strings or an object of them, got ${typeName(x)}`);
  };
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const parts: LifecycleCommand['parts'] = [];
    for (const [k, x] of Object.entries(objectOf(name, v, bad))) {
      const argv = argvOf(`${name}.${k}`, x);
      if (argv.length) parts.push({ name: k, argv });
    }
    return { parts };
  }
  const argv = argvOf(name, v);
  return { parts: argv.length ? [{ name: '', argv }] : [] };
}

/** "source=X,target=Y,type=bind|volume[,readonly][,consistency=...]" -> a binds entry. */
function mountToBind(key: string, spec: string, bad: Bad): string {
  const fields: Record<string, string> = {};
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? 'true' : part.slice(eq + 1);
    fields[k] = val;
  }
  return mountFieldsToBind(key, fields, bad);
}

function mountObjectToBind(key: string, o: Record<string, JsonValue>, sub: (s: string) => string, bad: Bad): string {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'boolean') fields[k.toLowerCase()] = String(v);
    else fields[k.toLowerCase()] = sub(strIn(`${key}.${k}`, v, bad));
  }
  return mountFieldsToBind(key, fields, bad);
}

function mountFieldsToBind(key: string, f: Record<string, string>, bad: Bad): string {
  const known = new Set(['source', 'src', 'target', 'destination', 'dst', 'type', 'readonly', 'ro', 'consistency']);
  const unknown = Object.keys(f).filter((k) => !known.has(k));
  if (unknown.length)
    throw bad(`"${key}": mount option "${unknown[0]}" is not supported by Berth (it takes source, target, type, readonly)`);
  const type = f.type ?? 'bind';
  const target = f.target ?? f.destination ?? f.dst;
  const source = f.source ?? f.src;
  if (!target) throw bad(`"${key}" needs a target (where it is mounted in the container)`);
  if (!posix.isAbsolute(target) || target.split('/').includes('..') || target.includes(':')) {
    throw bad(`"${key}": the target must be an absolute container path without ".." or ":", got "${target.slice(0, 256)}"`);
  }
  const ro = f.readonly ?? f.ro;
  const readOnly = ro === 'true' || ro === '1';
  if (ro !== undefined && !readOnly && ro !== 'false' && ro !== '0') throw bad(`"${key}": readonly must be true or false, got "${ro}"`);
  const suffix = readOnly ? ':ro' : '';
  if (type === 'bind') {
    if (!source) throw bad(`"${key}" is a bind mount without a source`);
    if (!isAbsolute(source) || source.includes(':'))
      throw bad(`"${key}": the source of a bind mount must be an absolute host path without ":", got "${source.slice(0, 256)}"`);
    return `${source}:${target}${suffix}`;
  }
  if (type === 'volume') {
    if (!source) return `${target}${suffix}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(source))
      throw bad(`"${key}": "${source.slice(0, 256)}" is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)`);
    return `${source}:${target}${suffix}`;
  }
  throw bad(`"${key}": mount type "${type.slice(0, 64)}" is not supported by Berth (bind and volume are)`);
}

/** JSON with object keys sorted, so equal configs hash equally whatever the key order. */
function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}
