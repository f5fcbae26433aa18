/**
 * The builder's model of "the image so far" (see builder.ts): a state is a config in the form
 * builds write plus its layers, its ID the digest of the config's JSON text. Pure functions that
 * make the next state from the last one: FROM scratch, config changes with their history entry,
 * Env and build-argument lookups, EXPOSE's port lists.
 */
import { createHash } from 'node:crypto';
import { hostPlatform, type HistoryItem, type ImageConfigRun } from '../oci';
import type { StoredLayer } from '../runtime/containers/commit';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Most ports one EXPOSE range may name. */
const MAX_PORT_RANGE = 1000;

/** The run config as builds keep it: the image config's `config`, plus Docker's `Shell`. */
export type RunConfig = ImageConfigRun & { Shell?: string[] };

/** An image config in the form builds write. */
export interface BuildConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config: RunConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: HistoryItem[];
}

/** The image so far. */
export interface State {
  layers: StoredLayer[];
  config: BuildConfig;
  /** `config` as stored (its digest is `id`). */
  configJson: string;
  id: string;
}

/** Per stage: the ARGs it declared (value undefined: declared, unset) and whether CMD was set. */
export interface StageScope {
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

/** A state from a config (its JSON text as stored, when known). */
export function stateOf(config: BuildConfig, layers: StoredLayer[], json?: string): State {
  const configJson = json ?? JSON.stringify(config);
  return { config, layers, configJson, id: `sha256:${createHash('sha256').update(configJson).digest('hex')}` };
}

/** The last value of `name` in an Env list. */
export function envValue(env: readonly string[] | undefined, name: string): string | undefined {
  for (let i = (env?.length ?? 0) - 1; i >= 0; i--) {
    const e = env![i];
    if (e.startsWith(`${name}=`)) return e.slice(name.length + 1);
  }
  return undefined;
}

/** An Env list with `name` set to `value` (replaced in place, or appended). */
export function setEnv(env: readonly string[] | undefined, name: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => e.startsWith(`${name}=`));
  if (i >= 0) out[i] = `${name}=${value}`;
  else out.push(`${name}=${value}`);
  return out;
}

/** The state of `FROM scratch`: no layers, the host platform, PATH only. */
export function scratchState(): State {
  const host = hostPlatform();
  const config: BuildConfig = {
    architecture: host.architecture,
    os: host.os,
    ...(host.variant ? { variant: host.variant } : {}),
    config: { Env: [DEFAULT_PATH] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  return stateOf(config, []);
}

/** The build arguments in effect ("NAME=value" of the set ones, declaration order). */
export function argsInEffect(scope: StageScope): string[] {
  return [...scope.args].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
}

/** The next state: the config changed by `mutate`, one history entry, and `layer` when given. */
export function deriveState(parent: State, createdBy: string, mutate: (c: BuildConfig) => void, layer?: StoredLayer): State {
  const c = structuredClone(parent.config);
  const now = new Date().toISOString();
  c.created = now;
  mutate(c);
  if (layer) c.rootfs = { type: 'layers', diff_ids: [...c.rootfs.diff_ids, layer.diffId] };
  c.history = [...c.history, { created: now, created_by: createdBy, ...(layer ? {} : { empty_layer: true }) }];
  return stateOf(c, layer ? [...parent.layers, layer] : parent.layers);
}

/** "80", "80/udp", "8000-8002/tcp" -> ["80/tcp"] ... */
export function exposedPorts(w: string, fail: (what: string) => Error): string[] {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?(?:\/([a-zA-Z]+))?$/.exec(w);
  const proto = (m?.[3] ?? 'tcp').toLowerCase();
  if (!m || !['tcp', 'udp', 'sctp'].includes(proto)) throw fail(`invalid port "${w}": want PORT[-PORT][/tcp|udp|sctp]`);
  const lo = Number(m[1]);
  const hi = m[2] !== undefined ? Number(m[2]) : lo;
  if (lo < 1 || hi > 65535 || hi < lo || hi - lo >= MAX_PORT_RANGE) throw fail(`invalid port range "${w}"`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}
