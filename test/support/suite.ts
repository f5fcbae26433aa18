/**
 * The setup most runtime integration files share, in one place: a real registry holding one
 * image, a real agent (the built bundle) with a protocol connection that has pulled that image
 * (unless told not to), and the `berth` CLI pointed at it with autostart off (a dead agent must
 * fail a test, not be replaced).
 *
 * {@link containerSuite} is called inside a `describe` and registers that suite's own `before`
 * and `after`. Teardown, always in this order: force-remove every container the agent knows, run
 * every registered cleanup (which stops the agent and the registry and removes temp dirs), then
 * assert that no cgroup is left for any container removed here or recorded with `track` (one the
 * test removed itself, e.g. `run --rm`). A file's own `after`, registered after the call, runs
 * after that teardown (node runs a suite's hooks in registration order).
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageConnection } from 'vscode-jsonrpc';
import { PullRequest } from '../../protocol';
import { berth, startAgent, type CliResult, type TestAgent } from './agent';
import { cgroupLeft, removeAllContainers } from './containers';
import { busyboxImage, type BuiltImage } from './images';
import { pushImage } from './push';
import { startRegistry, type TestRegistry } from './registry';
import { requireTools, runCleanups } from './tmp';

export interface ContainerSuiteOptions {
  /** Repository the image is pushed to (tag v1) in the suite's registry, e.g. "cp/box". */
  repo: string;
  /** The image pushed there; busybox (test/support/images.ts) when not given. */
  image?: () => Promise<BuiltImage>;
  /** Programs the suite needs on PATH (requireTools); default docker-registry, tar, gzip. */
  tools?: string[];
  /**
   * Options for {@link startAgent}, computed in `before` after the registry is up (e.g. a root
   * and subnet the file needs to know itself). None by default: a fresh root.
   */
  agentOptions?: () => Promise<Parameters<typeof startAgent>[0]>;
  /** Default bound of {@link ContainerSuite.cli}, ms; berth()'s own default when not given. */
  cliTimeoutMs?: number;
  /** false: the image is only pushed, for tests that pull it themselves (default true: pulled). */
  pull?: boolean;
}

/**
 * What a suite's tests use. Every field is set by the suite's `before`; reading one earlier (at
 * describe time) throws, so destructure only `cli` and `track`, which are functions.
 */
export interface ContainerSuite {
  readonly registry: TestRegistry;
  /** The agent; a test that restarts it on the same root assigns the new one (and `conn`). */
  agent: TestAgent;
  /** A protocol connection to the agent (closed when the agent stops); teardown uses it. */
  conn: MessageConnection;
  /** The agent's environment for the CLI, with BERTH_NO_AUTOSTART=1. */
  readonly env: NodeJS.ProcessEnv;
  /** The pushed (and pulled) image: `<registry host>/<repo>:v1`. */
  readonly ref: string;
  /** Runs `berth ARGS` against the agent (bounded by `timeoutMs`, default the suite's). */
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Records container `id` for the after-suite cgroup check; returns it. */
  track(id: string): string;
}

/** Registers the suite's `before` and `after` (see the file comment) and returns its parts. */
export function containerSuite(opts: ContainerSuiteOptions): ContainerSuite {
  const parts: { registry?: TestRegistry; agent?: TestAgent; conn?: MessageConnection; env?: NodeJS.ProcessEnv; ref?: string } = {};
  const tracked = new Set<string>();
  const get = <K extends keyof typeof parts>(k: K): NonNullable<(typeof parts)[K]> => {
    const v = parts[k];
    if (v === undefined) throw new Error(`containerSuite(${opts.repo}): "${k}" is read before the suite's before() set it`);
    return v as NonNullable<(typeof parts)[K]>;
  };

  before(async () => {
    requireTools(opts.tools ?? ['docker-registry', 'tar', 'gzip']);
    const registry = (parts.registry = await startRegistry());
    await pushImage(registry, opts.repo, 'v1', await (opts.image ?? busyboxImage)());
    const ref = (parts.ref = `${registry.host}/${opts.repo}:v1`);
    const agent = (parts.agent = await startAgent(await opts.agentOptions?.()));
    parts.env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    const conn = (parts.conn = await agent.connect());
    if (opts.pull !== false) await conn.sendRequest(PullRequest.type, { reference: ref });
  });

  after(async () => {
    const removed = await removeAllContainers(parts.agent ? parts.conn : undefined);
    await runCleanups();
    for (const id of [...tracked, ...removed]) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
  });

  return {
    get registry() {
      return get('registry');
    },
    get agent() {
      return get('agent');
    },
    set agent(a: TestAgent) {
      parts.agent = a;
    },
    get conn() {
      return get('conn');
    },
    set conn(c: MessageConnection) {
      parts.conn = c;
    },
    get env() {
      return get('env');
    },
    get ref() {
      return get('ref');
    },
    cli: (args, timeoutMs = opts.cliTimeoutMs) => berth(args, get('env'), timeoutMs),
    track(id) {
      tracked.add(id);
      return id;
    },
  };
}
