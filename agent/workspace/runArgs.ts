/**
 * devcontainer.json's `runArgs`: the `docker run` flags Berth maps onto its create options
 * ({@link RUN_ARGS}), parsed into {@link RunArgOptions}. Called by devcontainer.ts once the
 * strings are substituted; a flag it does not know is an error naming it (through `bad`).
 */
import type { BerthError } from '../errors';

type Bad = (what: string) => BerthError;

/** What create options runArgs may set (see {@link RUN_ARGS}). */
export interface RunArgOptions {
  name?: string;
  capAdd: string[];
  capDrop: string[];
  privileged?: boolean;
  init?: boolean;
  env: string[];
  ports: string[];
  binds: string[];
  labels: Record<string, string>;
  memory?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  networkMode?: string;
  user?: string;
  hostname?: string;
}

/**
 * The `runArgs` Berth maps onto its create options (both `--flag value` and `--flag=value`);
 * anything else is refused with the flag named, never silently dropped.
 */
export const RUN_ARGS = [
  '--name',
  '--cap-add',
  '--cap-drop',
  '--privileged',
  '--init',
  '-e/--env',
  '-p/--publish',
  '-v/--volume',
  '-m/--memory',
  '--cpus',
  '--pids-limit',
  '--network/--net',
  '-u/--user',
  '-h/--hostname',
  '-l/--label',
] as const;

const RUN_ARG_ALIASES: Record<string, string> = {
  '-e': '--env',
  '-p': '--publish',
  '-v': '--volume',
  '-m': '--memory',
  '--net': '--network',
  '-u': '--user',
  '-h': '--hostname',
  '-l': '--label',
};
const RUN_ARG_BOOLEANS = new Set(['--privileged', '--init']);

/** Parses runArgs (already substituted). */
export function parseRunArgs(args: readonly string[], bad: Bad): RunArgOptions {
  const out: RunArgOptions = { capAdd: [], capDrop: [], env: [], ports: [], binds: [], labels: {} };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    let flag = eq > 0 ? a.slice(0, eq) : a;
    flag = RUN_ARG_ALIASES[flag] ?? flag;
    const shown = a.slice(0, 64);
    if (!flag.startsWith('-'))
      throw bad(`"runArgs[${i}]" is "${shown}", not a flag (runArgs takes options of "docker run", not a command)`);
    const supported = (RUN_ARGS as readonly string[]).flatMap((f) => f.split('/')).map((f) => RUN_ARG_ALIASES[f] ?? f);
    if (!supported.includes(flag)) {
      throw bad(`"runArgs[${i}]": "${shown}" is not supported by Berth (it supports ${RUN_ARGS.join(', ')}); remove it`);
    }
    if (RUN_ARG_BOOLEANS.has(flag)) {
      const v = eq > 0 ? a.slice(eq + 1) : 'true';
      if (v !== 'true' && v !== 'false') throw bad(`"runArgs[${i}]": ${flag} takes true or false, got "${v.slice(0, 64)}"`);
      if (flag === '--privileged') out.privileged = v === 'true';
      else out.init = v === 'true';
      continue;
    }
    let value: string;
    if (eq > 0) value = a.slice(eq + 1);
    else {
      if (i + 1 >= args.length) throw bad(`"runArgs[${i}]": ${flag} needs a value`);
      value = args[++i];
    }
    const where = `"runArgs[${i}]"`;
    switch (flag) {
      case '--name':
        out.name = value;
        break;
      case '--cap-add':
        out.capAdd.push(value);
        break;
      case '--cap-drop':
        out.capDrop.push(value);
        break;
      case '--env':
        if (!/^[^=\0]+=/.test(value)) throw bad(`${where}: --env wants NAME=value, got "${value.slice(0, 64)}"`);
        out.env.push(value);
        break;
      case '--publish':
        out.ports.push(value);
        break;
      case '--volume':
        out.binds.push(value);
        break;
      case '--label': {
        const k = value.indexOf('=');
        out.labels[k < 0 ? value : value.slice(0, k)] = k < 0 ? '' : value.slice(k + 1);
        break;
      }
      case '--memory':
        out.memory = parseSize(value, () => bad(`${where}: --memory "${value.slice(0, 64)}" is not a size (512m, 2g)`));
        break;
      case '--cpus': {
        const n = Number(value);
        if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(n > 0)) throw bad(`${where}: --cpus "${value.slice(0, 64)}" is not a positive number`);
        out.nanoCpus = Math.round(n * 1e9);
        break;
      }
      case '--pids-limit': {
        if (!/^-?[0-9]{1,9}$/.test(value)) throw bad(`${where}: --pids-limit "${value.slice(0, 64)}" is not a whole number`);
        out.pidsLimit = Number(value);
        break;
      }
      case '--network':
        out.networkMode = value;
        break;
      case '--user':
        out.user = value;
        break;
      case '--hostname':
        out.hostname = value;
        break;
    }
  }
  return out;
}

/** "512m", "2g", "1048576", "64k" -> bytes. */
function parseSize(s: string, bad: () => BerthError): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?$/i.exec(s.trim());
  if (!m) throw bad();
  const mult: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const n = Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(n) || n <= 0) throw bad();
  return n;
}
