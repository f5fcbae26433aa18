/**
 * What the container verbs share: `create`/`run` flags and their translation into
 * `container/create` params, attaching to a container's output, and `ps`'s status words.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isAgentError } from '../client/errors';
import {
  CreateContainerRequest,
  ErrorCode,
  KillContainerRequest,
  LogLineNotification,
  PullRequest,
  StartContainerRequest,
  WaitContainerRequest,
  type CreateContainerParams,
  type LogLine,
} from '../protocol';
import { flagBool, flagString, flagStrings, UsageError, type FlagSpec, type ParsedArgs } from './args';
import type { AgentClient } from './client';
import type { CliIO } from './context';
import { attached, newAttachToken, terminalSize } from './attach';

export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', value: 'NAME', help: 'Assign a name to the container' },
  { name: 'env', short: 'e', type: 'strings', value: 'NAME=value', help: 'Set an environment variable (NAME alone takes it from here)' },
  { name: 'env-file', type: 'strings', value: 'FILE', help: 'Read environment variables from a file' },
  {
    name: 'volume',
    short: 'v',
    type: 'strings',
    value: 'SRC:/ctr[:ro]',
    help: 'Bind-mount a host path (/host:/ctr) or a named volume (name:/ctr); /ctr alone: an anonymous volume',
  },
  { name: 'workdir', short: 'w', type: 'string', value: 'DIR', help: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', value: 'USER[:GROUP]', help: 'User name or uid, and group name or gid' },
  { name: 'hostname', type: 'string', value: 'NAME', help: 'Container hostname' },
  { name: 'entrypoint', type: 'string', value: 'CMD', help: "Override the image's entrypoint ('' clears it)" },
  { name: 'label', short: 'l', type: 'strings', value: 'KEY=value', help: 'Set a label' },
  { name: 'memory', short: 'm', type: 'string', value: 'BYTES', help: 'Memory limit (64m, 1g)' },
  { name: 'cpus', type: 'string', value: 'N', help: 'Number of CPUs (0.5)' },
  { name: 'pids-limit', type: 'number', value: 'N', help: 'Maximum number of processes (-1: no limit)' },
  { name: 'cap-add', type: 'strings', value: 'CAP', help: 'Add a Linux capability' },
  { name: 'cap-drop', type: 'strings', value: 'CAP', help: 'Drop a Linux capability' },
  { name: 'privileged', type: 'boolean', help: 'All capabilities and devices, no masked paths' },
  { name: 'rm', type: 'boolean', help: 'Remove the container when it exits' },
  { name: 'init', type: 'boolean', help: "Run Berth's init as pid 1: it forwards signals and reaps zombies" },
  { name: 'userns', type: 'string', value: 'MODE', help: 'host (default), or auto: container root is host uid 100000 in a user namespace' },
  { name: 'interactive', short: 'i', type: 'boolean', help: 'Keep stdin open and pass it to the container' },
  { name: 'tty', short: 't', type: 'boolean', help: "Allocate a terminal (from the container's /dev/pts)" },
  {
    name: 'publish',
    short: 'p',
    type: 'strings',
    value: '[IP:]HOST:CTR[/udp]',
    help: 'Publish a container port on the host (default address 127.0.0.1; CTR alone: a free host port)',
  },
  { name: 'network', type: 'string', value: 'MODE', help: 'bridge (default: a private network with NAT), host, or none (loopback only)' },
];

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "64m" -> 67108864, Docker's binary units. */
export function parseMemory(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid memory value "${s}": want a number with an optional unit b, k, m, g (64m)`);
  return Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

/** "NAME=value" entries of -e and --env-file; "NAME" alone takes the value from `env` (dropped when unset). */
export function collectEnv(p: ParsedArgs, io: CliIO): string[] {
  const out: string[] = [];
  const add = (e: string) => {
    if (e.includes('=')) out.push(e);
    else if (e && io.env[e] !== undefined) out.push(`${e}=${io.env[e]}`);
  };
  for (const file of flagStrings(p, 'env-file')) {
    let text: string;
    try {
      text = readFileSync(resolve(io.cwd, file), 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read env file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t && !t.startsWith('#')) add(t);
    }
  }
  for (const e of flagStrings(p, 'env')) add(e);
  return out;
}

/** The `container/create` params of `berth create|run [OPTIONS] IMAGE [COMMAND [ARG...]]`. */
export function createParams(p: ParsedArgs, io: CliIO): CreateContainerParams {
  const [image, ...cmd] = p.args;
  const params: CreateContainerParams = { image: image! };
  if (flagBool(p, 'tty')) params.tty = true;
  // Docker's rule: an attached stdin (-i without -d) is closed when its client goes away.
  if (flagBool(p, 'interactive')) Object.assign(params, { openStdin: true, stdinOnce: !flagBool(p, 'detach') });
  if (cmd.length) params.cmd = cmd;
  const entrypoint = flagString(p, 'entrypoint');
  if (entrypoint !== undefined) params.entrypoint = entrypoint === '' ? [] : [entrypoint];
  const name = flagString(p, 'name');
  if (name !== undefined) params.name = name;
  const env = collectEnv(p, io);
  if (env.length) params.env = env;
  const binds = flagStrings(p, 'volume');
  if (binds.length)
    params.binds = binds.map((b) => (b.startsWith('.') ? resolve(io.cwd, b.split(':')[0]!) + b.slice(b.split(':')[0]!.length) : b));
  const workdir = flagString(p, 'workdir');
  if (workdir) params.workingDir = workdir;
  const user = flagString(p, 'user');
  if (user !== undefined) params.user = user;
  const hostname = flagString(p, 'hostname');
  if (hostname) params.hostname = hostname;
  const labels = flagStrings(p, 'label');
  if (labels.length)
    params.labels = Object.fromEntries(
      labels.map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])),
    );
  const memory = flagString(p, 'memory');
  if (memory !== undefined) params.memory = parseMemory(memory);
  const cpus = flagString(p, 'cpus');
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (cpus.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`invalid value "${cpus}" for --cpus: want a number (0.5)`);
    if (n > 0) params.nanoCpus = Math.round(n * 1e9);
  }
  const pids = p.flags['pids-limit'];
  if (typeof pids === 'number' && pids > 0) params.pidsLimit = pids;
  const capAdd = flagStrings(p, 'cap-add');
  if (capAdd.length) params.capAdd = capAdd;
  const capDrop = flagStrings(p, 'cap-drop');
  if (capDrop.length) params.capDrop = capDrop;
  if (flagBool(p, 'privileged')) params.privileged = true;
  if (flagBool(p, 'rm')) params.autoRemove = true;
  if (flagBool(p, 'init')) params.init = true;
  const userns = flagString(p, 'userns');
  if (userns !== undefined) {
    if (userns !== 'host' && userns !== 'auto') throw new UsageError(`invalid value "${userns}" for --userns: want host or auto`);
    params.userns = userns;
  }
  const ports = flagStrings(p, 'publish');
  if (ports.length) params.ports = ports;
  const network = flagString(p, 'network');
  if (network !== undefined) params.networkMode = network;
  return params;
}

/** Creates the container; pulls the image first when the store does not have it (Docker's `run`). */
export async function createPulling(client: AgentClient, io: CliIO, params: CreateContainerParams): Promise<{ Id: string; Name: string }> {
  try {
    return await client.request(CreateContainerRequest.type, params);
  } catch (err) {
    const missingImage =
      isAgentError(err, ErrorCode.NotFound) && (err.data as { reference?: string } | undefined)?.reference === params.image;
    if (!missingImage) throw err;
  }
  io.stderr(`Unable to find image '${params.image}' locally\n`);
  const r = await client.request(PullRequest.type, { reference: params.image });
  io.stderr(`Digest: ${r.digest}\n`);
  return client.request(CreateContainerRequest.type, params);
}

/** Writes a line where the container wrote it: stdout to stdout, stderr to stderr. */
export function printLine(io: CliIO, l: LogLine, timestamps = false): void {
  const text = `${timestamps ? `${l.time} ` : ''}${l.line}\n`;
  if (l.stream === 'stderr') io.stderr(text);
  else io.stdout(text);
}

/**
 * Starts `id` attached: its output is printed until it exits; resolves with its exit code. The
 * wait is asked for before the start, so a fast exit (or `--rm`) cannot be missed. Ctrl-C is
 * passed on to the container as SIGINT.
 */
export async function startAttached(client: AgentClient, io: CliIO, id: string): Promise<number> {
  const token = `berth-cli-attach-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const sub = client.onNotification(LogLineNotification.type, (n) => {
    if (n.token === token) printLine(io, n.line);
  });
  const off = io.onInterrupt(
    () => void client.request(KillContainerRequest.type, { container: id, signal: 'SIGINT' }).catch(() => undefined),
  );
  try {
    const waited = client.request(WaitContainerRequest.type, { container: id, condition: 'next-exit' });
    waited.catch(() => undefined);
    await client.request(StartContainerRequest.type, { container: id, attachToken: token });
    const r = await waited;
    return r.StatusCode;
  } finally {
    off();
    sub.dispose();
  }
}

/**
 * Starts (or attaches to) `id` as a byte stream (cli/attach.ts): the local terminal in raw mode
 * with `tty`, stdin forwarded with `stdin`, SIGWINCH as resizes; resolves with its exit code. The
 * wait is asked for before the start, so a fast exit (or `--rm`) cannot be missed. Without a tty,
 * Ctrl-C is passed on to the container as SIGINT.
 */
export async function startStreamed(client: AgentClient, io: CliIO, id: string, o: { tty: boolean; stdin: boolean }): Promise<number> {
  const token = newAttachToken();
  const off = o.tty
    ? () => undefined
    : io.onInterrupt(() => void client.request(KillContainerRequest.type, { container: id, signal: 'SIGINT' }).catch(() => undefined));
  try {
    return await attached(client, token, o, async () => {
      const waited = client.request(WaitContainerRequest.type, { container: id, condition: 'next-exit' });
      waited.catch(() => undefined);
      await client.request(StartContainerRequest.type, {
        container: id,
        attachToken: token,
        stream: true,
        ...(o.tty ? terminalSize() : {}),
      });
      return (await waited).StatusCode;
    });
  } finally {
    off();
  }
}
