/**
 * `image/build`: runs a Dockerfile's stages and stores the result as an image.
 *
 * The image "so far" is a state: its layers (in the store) and its config (the exact JSON text;
 * its digest is the state's ID, the image ID it would have). Each instruction makes the next
 * state:
 * - FROM: a stored image (pulled when missing), an earlier stage's result, or `scratch` (no
 *   layers; Env PATH only). Its config is re-written in a clean form (Berth's fields only).
 * - RUN: a container of the runtime (ContainerService, with the state as its image: Env plus the
 *   build arguments in effect, WorkingDir, User; the command through SHELL, `/bin/sh -c` by
 *   default, or in exec form; the image's VOLUMEs are not mounted, so what the command writes
 *   there stays in the layer). Its output is streamed; a non-zero exit fails the build (BuildFailed)
 *   naming the step; the container is removed whatever happens. Its writable layer becomes the
 *   step's layer (commit.ts's writeUpperTar), or no layer when it wrote nothing.
 * - COPY, ADD (copy.ts) and WORKDIR when its directory is missing: a layer made directly as a tar.
 * - Everything else (ENV, ARG, LABEL, USER, EXPOSE, VOLUME, ENTRYPOINT, CMD, STOPSIGNAL, SHELL,
 *   MAINTAINER, WORKDIR of an existing directory): the config changes; one empty-layer history
 *   entry.
 * Every step adds one history entry whose created_by is BuildKit-like: the instruction after
 * substitution ("RUN /bin/sh -c make", "RUN |1 V=2 /bin/sh -c make" with build arguments in
 * effect, "COPY --from=build /out /app", "ENV A=1", "CMD [\"sh\"]"). Every step first asks the
 * build cache (cache.ts) unless `noCache`; a hit takes the stored result and runs nothing.
 *
 * Stages run in file order, from the first up to the target (the last unless `target` names one).
 * Variables: ARGs before the first FROM (and TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT,
 * BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, always) are usable in FROM lines; a stage sees
 * the ARGs it declares (a bare `ARG NAME` takes the global value) and its ENV, ENV winning.
 * `buildArgs` fill ARGs; those no ARG declares are reported as a warning.
 *
 * Leases: every layer a state names is leased until the build ends (then the image record holds
 * what the result needs), so a concurrent `rmi` or prune cannot take it away mid-build.
 *
 * One file of some 750 lines on purpose: every step is a method of one Builder that owns what the
 * steps share (leases, step count, progress, stage results, warnings); the state model is state.ts,
 * COPY/ADD copy.ts, the cache cache.ts, variable substitution expand.ts.
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import type { BuildEvent, BuildParams, BuildResult, BuildStepResult } from '../../protocol';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode, systemError } from '../errors';
import { callerGroups, checkCallerAccess, modeAllows } from '../images/access';
import { MAX_LAYERS, type ImageConfigRun } from '../oci';
import { familiarName, formatReference, parseReference, withDefaultTag } from '../oci/reference';
import type { ImageService } from '../images/service';
import { hostPlatform, platformString, parsePlatform } from '../oci/platform';
import { storeImage, storeLayer, writeLayerTar, writeUpperTar, type StoredLayer } from '../runtime/containers/commit';
import { walkUpper } from '../runtime/containers/diff';
import { RootfsReader } from '../runtime/containers/rootfs';
import { parseSignal, type ContainerService } from '../runtime/containers/service';
import type { ImageRecord } from '../store/store';
import { BuildCache } from './cache';
import { BuildContext } from './context';
import { contextSource, planCopy, resolveOwner, treeSource, writePlan, type PlanItem, type SourceFs } from './copy';
import { dockerfileError, MAX_DOCKERFILE_BYTES, parseDockerfile, type Dockerfile, type Instruction, type Stage } from './dockerfile';
import { expandWord, type Lookup } from './expand';
import {
  argsInEffect,
  type BuildConfig,
  type RunConfig,
  DEFAULT_SHELL,
  deriveState,
  envValue,
  exposedPorts,
  scratchState,
  setEnv,
  type StageScope,
  type State,
  stateOf,
} from './state';
import { MergedTree } from './rootfs';

const OP = 'build';
const ARG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface BuildServices {
  images: ImageService;
  containers: ContainerService;
  cache: BuildCache;
  log?: (msg: string) => void;
}

export interface BuildOptions {
  /** Who asked (its uid decides what it may read); absent over stdio. */
  peer?: PeerCred;
  signal?: AbortSignal;
  onProgress?: (e: BuildEvent) => void;
}

/** `image/build` (see the module comment). */
export async function buildImage(svc: BuildServices, params: BuildParams, opts: BuildOptions = {}): Promise<BuildResult> {
  const b = new Builder(svc, params, opts);
  try {
    return await b.run();
  } catch (e) {
    if (opts.signal?.aborted) throw new BerthError(ErrorCode.Cancelled, `${OP}: cancelled`, { operation: OP }, { cause: e });
    throw e;
  } finally {
    b.release();
  }
}

class Builder {
  private readonly releases: (() => void)[] = [];
  private readonly steps: BuildStepResult[] = [];
  private readonly warnings: string[] = [];
  private readonly usedArgs = new Set<string>();
  private readonly stageResults = new Map<number, State>();
  private dockerfilePath?: string;
  private step = 0;
  private total = 0;
  private context?: BuildContext;

  constructor(
    private readonly svc: BuildServices,
    private readonly params: BuildParams,
    private readonly opts: BuildOptions,
  ) {}

  private get store() {
    return this.svc.images.store;
  }

  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  private emit(e: BuildEvent): void {
    try {
      this.opts.onProgress?.(e);
    } catch {
      // Must swallow everything: a listener that went away must not stop the build.
    }
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.emit({ type: 'warning', message });
  }

  private lease(layers: readonly StoredLayer[]): void {
    this.releases.push(this.store.lease([...layers.map((l) => l.chainId), ...layers.map((l) => l.digest)]));
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new BerthError(ErrorCode.Cancelled, `${OP}: cancelled`, { operation: OP });
  }

  async run(): Promise<BuildResult> {
    const p = this.params;
    const buildArgs = p.buildArgs ?? {};
    for (const k of Object.keys(buildArgs)) {
      if (!ARG_NAME_RE.test(k))
        throw new BerthError(ErrorCode.InvalidArgument, `${OP}: invalid build argument name "${k.slice(0, 64)}"`, { operation: OP });
    }
    const tags = (p.tags ?? []).map((t) => {
      const ref = withDefaultTag(parseReference(t));
      if (ref.digest)
        throw new BerthError(ErrorCode.InvalidReference, `${OP}: the tag "${t}" has a digest; a tag cannot name one`, {
          operation: OP,
          reference: t,
        });
      return { name: formatReference(ref), familiar: familiarName(ref) };
    });
    this.context = BuildContext.open(p.contextDir, this.opts.peer, OP);
    const df = this.readDockerfile();
    for (const w of df.warnings) this.warn(w);

    let target = df.stages.length - 1;
    if (p.target !== undefined && p.target !== '') {
      const t = p.target.toLowerCase();
      const found = df.stages.find((s) => s.name === t) ?? (/^[0-9]+$/.test(t) ? df.stages[Number(t)] : undefined);
      if (!found) {
        const names = df.stages.map((s) => s.name ?? String(s.index)).join(', ');
        throw new BerthError(
          ErrorCode.InvalidArgument,
          `${OP}: the target stage "${p.target}" is not in the Dockerfile (its stages: ${names})`,
          { operation: OP, path: this.dockerfilePath },
        );
      }
      target = found.index;
    }
    const stages = df.stages.slice(0, target + 1);
    this.total = stages.reduce((n, s) => n + 1 + s.instructions.length, 0);

    // The global scope: automatic platform arguments, then the ARGs before the first FROM.
    const host = hostPlatform();
    const platform = platformString(host);
    const globals = new Map<string, string | undefined>([
      ['TARGETPLATFORM', platform],
      ['TARGETOS', host.os],
      ['TARGETARCH', host.architecture],
      ['TARGETVARIANT', host.variant ?? ''],
      ['BUILDPLATFORM', platform],
      ['BUILDOS', host.os],
      ['BUILDARCH', host.architecture],
      ['BUILDVARIANT', host.variant ?? ''],
    ]);
    for (const ins of df.globalArgs) {
      for (const a of ins.args) {
        const dflt = a.value === undefined ? undefined : this.expand(ins, a.value, (n) => globals.get(n), df.escape);
        globals.set(a.name, this.argValue(a.name, dflt, undefined));
      }
    }

    let last: State | undefined;
    for (const stage of stages) {
      last = await this.runStage(df, stage, globals);
      this.stageResults.set(stage.index, last);
    }
    const final = last!;
    if (final.layers.length > MAX_LAYERS) {
      throw new BerthError(
        ErrorCode.InvalidArgument,
        `${OP}: the image would have ${final.layers.length} layers; at most ${MAX_LAYERS} are allowed`,
        { operation: OP },
      );
    }
    const unused = Object.keys(buildArgs).filter((k) => !this.usedArgs.has(k));
    if (unused.length) this.warn(`one or more build arguments were not consumed (no ARG declares them): ${unused.join(', ')}`);

    const id = await storeImage(
      this.store,
      this.svc.images,
      Buffer.from(final.configJson),
      final.layers,
      tags.map((t) => t.name),
    );
    for (const t of tags) this.svc.images.emit('tag', id, { name: t.familiar });
    return { Id: id, tags: tags.map((t) => t.familiar), steps: this.steps, warnings: this.warnings };
  }

  /** Reads and parses the Dockerfile named by the params, as the caller may (see BuildParams). */
  private readDockerfile(): Dockerfile {
    const p = this.params;
    if (p.dockerfileContent !== undefined) {
      this.dockerfilePath = p.dockerfile || undefined;
      return parseDockerfile(p.dockerfileContent, { path: this.dockerfilePath });
    }
    const name = p.dockerfile
      ? isAbsolute(p.dockerfile)
        ? p.dockerfile
        : join(p.contextDir, p.dockerfile)
      : join(p.contextDir, 'Dockerfile');
    this.dockerfilePath = name;
    checkCallerAccess(OP, name, 'read', this.opts.peer);
    let fd: number;
    try {
      fd = openSync(name, fsc.O_RDONLY | fsc.O_NONBLOCK); // a FIFO must not block the agent
    } catch (e) {
      throw new BerthError(
        ErrorCode.InvalidArgument,
        `${OP}: cannot read the Dockerfile ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        {
          operation: OP,
          path: name,
          errno: (e as NodeJS.ErrnoException).code,
        },
      );
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new BerthError(ErrorCode.InvalidArgument, `${OP}: the Dockerfile ${name} is not a regular file`, {
          operation: OP,
          path: name,
        });
      const peer = this.opts.peer;
      // Judged on the opened file itself, so a path swapped after the check above gains nothing.
      if (peer && peer.uid !== 0 && !modeAllows(st, peer, callerGroups(peer), 4)) {
        throw new BerthError(ErrorCode.PermissionDenied, `${OP}: permission denied: uid ${peer.uid} may not read ${name}`, {
          operation: OP,
          path: name,
        });
      }
      if (st.size > MAX_DOCKERFILE_BYTES)
        throw dockerfileError(0, undefined, `the Dockerfile is larger than ${MAX_DOCKERFILE_BYTES} bytes`, name);
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return parseDockerfile(buf.subarray(0, off), { path: name });
    } finally {
      closeSync(fd);
    }
  }

  /** A build argument's value: the one given for the build, else `dflt`, else `inherited`. */
  private argValue(name: string, dflt: string | undefined, inherited: string | undefined): string | undefined {
    const args = this.params.buildArgs ?? {};
    const given = Object.hasOwn(args, name) ? args[name] : undefined;
    if (typeof given === 'string') {
      this.usedArgs.add(name);
      return given;
    }
    return dflt ?? inherited;
  }

  private fail(ins: { line: number; keyword: string }, what: string): BerthError {
    return dockerfileError(ins.line, ins.keyword, what, this.dockerfilePath);
  }

  /** Expands a word; a substitution error becomes a Dockerfile error. */
  private expand(ins: { line: number; keyword: string }, word: string, lookup: Lookup, esc: string, quotes = true): string {
    try {
      return expandWord(word, lookup, esc, { quotes });
    } catch (e) {
      throw this.fail(ins, (e as Error).message);
    }
  }

  /** Wraps an error of a step so it names the line and the instruction (keeping its code). */
  private wrap(ins: { line: number; keyword: string }, e: unknown): unknown {
    if (!(e instanceof BerthError) || e.message.startsWith('Dockerfile')) return e;
    if (e.code === ErrorCode.Cancelled) return e;
    return new BerthError(
      e.code,
      `Dockerfile:${ins.line}: ${ins.keyword}: ${e.message}`,
      { ...e.data, line: ins.line, ...(e.data.path ? {} : { path: this.dockerfilePath }) },
      { cause: e },
    );
  }

  private async runStage(df: Dockerfile, stage: Stage, globals: Map<string, string | undefined>): Promise<State> {
    const scope: StageScope = { args: new Map(), cmdSet: false };
    const from = stage.from;
    this.step++;
    this.emit({ type: 'step', step: this.step, total: this.total, stage: stage.index, line: from.line, instruction: from.text });
    let state: State;
    let cached: boolean;
    try {
      ({ state, cached } = await this.from(df, stage, globals));
    } catch (e) {
      throw this.wrap(from, e);
    }
    this.steps.push({ instruction: from.text, line: from.line, stage: stage.index, cached });
    this.emit({ type: 'result', step: this.step, id: state.id });

    for (const ins of stage.instructions) {
      this.checkAbort();
      this.step++;
      this.emit({ type: 'step', step: this.step, total: this.total, stage: stage.index, line: ins.line, instruction: ins.text });
      let r: { state: State; cached: boolean };
      try {
        r = await this.instruction(df, ins, state, scope, globals);
      } catch (e) {
        throw this.wrap(ins, e);
      }
      state = r.state;
      this.steps.push({ instruction: ins.text, line: ins.line, stage: stage.index, cached: r.cached });
      if (r.cached) this.emit({ type: 'cached', step: this.step });
      this.emit({ type: 'result', step: this.step, id: state.id });
    }
    return state;
  }

  // --- FROM and --from -------------------------------------------------------------------------

  private async from(df: Dockerfile, stage: Stage, globals: Map<string, string | undefined>): Promise<{ state: State; cached: boolean }> {
    const ins = stage.from;
    const lookup: Lookup = (n) => globals.get(n);
    if (ins.platform !== undefined) {
      const want = this.expand(ins, ins.platform, lookup, df.escape);
      let p: ReturnType<typeof parsePlatform>;
      try {
        p = parsePlatform(want);
      } catch (e) {
        throw this.fail(ins, (e as Error).message);
      }
      const host = hostPlatform();
      if (p.os !== host.os || p.architecture !== host.architecture || (p.variant && p.variant !== (host.variant ?? p.variant))) {
        throw this.fail(
          ins,
          `--platform=${want} is not this machine's platform (${platformString(host)}); Berth builds for the host platform only`,
        );
      }
    }
    const image = this.expand(ins, ins.image, lookup, df.escape);
    if (image === '') throw this.fail(ins, `the image name is empty after substitution ("${ins.image}")`);
    if (image.toLowerCase() === 'scratch') return { state: scratchState(), cached: true };
    const earlier = df.stages.find((s) => s.index < stage.index && s.name === image.toLowerCase());
    if (earlier) return { state: this.stageResults.get(earlier.index)!, cached: true };
    return this.imageState(ins, image);
  }

  /** A stored image as a state; pulled first when it is not in the store. */
  private async imageState(ins: Instruction, reference: string): Promise<{ state: State; cached: boolean }> {
    let rec: ImageRecord;
    let pulled = false;
    try {
      rec = this.svc.images.lookup(reference, OP);
    } catch (e) {
      if (!(e instanceof BerthError) || e.code !== ErrorCode.NotFound) throw e;
      this.emit({ type: 'message', step: this.step, message: `pulling ${reference}` });
      const res = await this.svc.images.pull(reference, { signal: this.opts.signal });
      this.emit({ type: 'message', step: this.step, message: `pulled ${reference} (${res.digest})` });
      rec = res.view.record;
      pulled = true;
    }
    const layers = rec.layers.map((l) => ({ ...l }));
    this.lease(layers);
    for (const l of layers) {
      if (!this.store.hasLayer(l.chainId))
        throw new BerthError(ErrorCode.NotFound, `layer ${l.chainId} of ${reference} is missing from the store`, {
          operation: OP,
          reference,
        });
    }
    const parsed = this.svc.images.config(rec);
    const raw = JSON.parse(this.store.readBlob(rec.id).toString('utf8')) as { config?: { Shell?: unknown; OnBuild?: unknown } };
    if (Array.isArray(raw.config?.OnBuild) && raw.config.OnBuild.length > 0) {
      throw this.fail(ins, `${reference} has ONBUILD triggers, which Berth builds do not run`);
    }
    const c = parsed.config ?? {};
    const run: RunConfig = {};
    for (const k of ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal'] as const) {
      if (c[k] !== undefined && c[k] !== null) (run as Record<string, unknown>)[k] = c[k];
    }
    const shell = raw.config?.Shell;
    if (Array.isArray(shell) && shell.length > 0 && shell.every((x) => typeof x === 'string')) run.Shell = shell as string[];
    const history = parsed.history ?? [];
    const config: BuildConfig = {
      architecture: parsed.architecture,
      os: parsed.os,
      ...(parsed.variant ? { variant: parsed.variant } : {}),
      ...(parsed.created ? { created: parsed.created } : {}),
      ...(parsed.author ? { author: parsed.author } : {}),
      config: run,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history:
        history.filter((h) => !h.empty_layer).length === layers.length
          ? history
          : layers.map(() => (parsed.created ? { created: parsed.created } : {})),
    };
    return { state: stateOf(config, layers), cached: !pulled };
  }

  /** The files of `--from`: an earlier stage (name or index) or an image. */
  private async fromSource(df: Dockerfile, ins: Extract<Instruction, { keyword: 'COPY' | 'ADD' }>, value: string): Promise<SourceFs> {
    const byName = df.stages.find((s) => s.name === value.toLowerCase());
    const byIndex = /^[0-9]+$/.test(value) ? df.stages[Number(value)] : undefined;
    const stage = byName ?? byIndex;
    let state: State;
    let what: string;
    if (stage) {
      const done = this.stageResults.get(stage.index);
      if (!done) throw this.fail(ins, `--from=${value} names a stage that is not built before this one`);
      state = done;
      what = `stage ${stage.name ?? stage.index}`;
    } else {
      state = (await this.imageState(ins, value)).state;
      what = `image ${value}`;
    }
    return treeSource(this.tree(state), what);
  }

  private tree(state: State): MergedTree {
    return new MergedTree(state.layers.map((l) => this.store.layerDiffDir(l.chainId)).reverse());
  }

  // --- steps -----------------------------------------------------------------------------------

  /**
   * The cache around one step: a hit (unless noCache) gives the stored state; a miss runs `make`
   * and stores what it made.
   */
  private async cached(
    state: State,
    scope: StageScope,
    instruction: string,
    content: string | undefined,
    make: () => Promise<State>,
  ): Promise<{ state: State; cached: boolean }> {
    const key = BuildCache.key({
      parentConfig: state.id,
      parentChain: state.layers.length ? state.layers[state.layers.length - 1].chainId : '',
      instruction,
      args: argsInEffect(scope),
      content,
    });
    if (!this.params.noCache) {
      const hit = this.svc.cache.get(key);
      if (hit) {
        this.lease(hit.layers);
        return { state: stateOf(JSON.parse(hit.config) as BuildConfig, hit.layers, hit.config), cached: true };
      }
    }
    const next = await make();
    this.svc.cache.put(key, { config: next.configJson, layers: next.layers });
    return { state: next, cached: false };
  }

  /** A config-only step through the cache. */
  private configStep(
    state: State,
    scope: StageScope,
    createdBy: string,
    mutate: (c: BuildConfig) => void,
  ): Promise<{ state: State; cached: boolean }> {
    return this.cached(state, scope, createdBy, undefined, async () => deriveState(state, createdBy, mutate));
  }

  /** Stores the layer tar at `tarPath` on top of `state` and leases it for the build. */
  private async addLayer(
    state: State,
    tarPath: string,
    diffId: string,
    createdBy: string,
    mutate: (c: BuildConfig) => void = () => {},
  ): Promise<State> {
    const made = await storeLayer(this.store, tarPath, diffId, state.layers, OP);
    this.releases.push(made.release);
    return deriveState(state, createdBy, mutate, made.layer);
  }

  private async instruction(
    df: Dockerfile,
    ins: Instruction,
    state: State,
    scope: StageScope,
    globals: Map<string, string | undefined>,
  ): Promise<{ state: State; cached: boolean }> {
    const env = state.config.config.Env;
    const lookup: Lookup = (n) => envValue(env, n) ?? scope.args.get(n);
    const x = (word: string, quotes = true) => this.expand(ins, word, lookup, df.escape, quotes);
    const shellForm = (cmd: string) => [...(state.config.config.Shell ?? DEFAULT_SHELL), cmd];
    switch (ins.keyword) {
      case 'ARG': {
        const parts: string[] = [];
        for (const a of ins.args) {
          const dflt = a.value === undefined ? undefined : x(a.value);
          scope.args.set(a.name, this.argValue(a.name, dflt, globals.get(a.name)));
          parts.push(dflt === undefined ? a.name : `${a.name}=${dflt}`);
        }
        return this.configStep(state, scope, `ARG ${parts.join(' ')}`, () => {});
      }
      case 'ENV': {
        const pairs = ins.pairs.map((p) => [x(p.key), x(p.value)] as const);
        for (const [k] of pairs) if (!k || k.includes('=')) throw this.fail(ins, `invalid variable name "${k}"`);
        return this.configStep(state, scope, `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => {
          let e = c.config.Env;
          for (const [k, v] of pairs) e = setEnv(e, k, v);
          c.config.Env = e;
        });
      }
      case 'LABEL': {
        const pairs = ins.pairs.map((p) => [x(p.key), x(p.value)] as const);
        for (const [k] of pairs) if (!k) throw this.fail(ins, 'a label name is empty');
        return this.configStep(state, scope, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => {
          c.config.Labels = { ...(c.config.Labels ?? {}), ...Object.fromEntries(pairs) };
        });
      }
      case 'USER': {
        const user = x(ins.value);
        if (!user) throw this.fail(ins, `the user is empty after substitution ("${ins.value}")`);
        return this.configStep(state, scope, `USER ${user}`, (c) => void (c.config.User = user));
      }
      case 'STOPSIGNAL': {
        const sig = x(ins.value);
        try {
          parseSignal(sig, 'STOPSIGNAL');
        } catch (e) {
          if (!(e instanceof BerthError && e.code === ErrorCode.InvalidArgument)) throw e;
          throw this.fail(ins, `"${sig}" is not a signal`);
        }
        return this.configStep(state, scope, `STOPSIGNAL ${sig}`, (c) => void (c.config.StopSignal = sig));
      }
      case 'MAINTAINER':
        return this.configStep(state, scope, `MAINTAINER ${ins.value}`, (c) => void (c.author = ins.value));
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const w of ins.ports.flatMap((p) => x(p).split(/\s+/).filter(Boolean)))
          ports.push(...exposedPorts(w, (what) => this.fail(ins, what)));
        return this.configStep(state, scope, `EXPOSE ${ports.join(' ')}`, (c) => {
          c.config.ExposedPorts = { ...(c.config.ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) };
        });
      }
      case 'VOLUME': {
        const paths = ins.paths.map((p) => x(p, !ins.json));
        for (const p of paths) if (!p.startsWith('/')) throw this.fail(ins, `the volume path "${p}" must be absolute`);
        return this.configStep(state, scope, `VOLUME ${JSON.stringify(paths)}`, (c) => {
          c.config.Volumes = { ...(c.config.Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) };
        });
      }
      case 'SHELL':
        return this.configStep(state, scope, `SHELL ${JSON.stringify(ins.exec)}`, (c) => void (c.config.Shell = [...ins.exec]));
      case 'CMD': {
        const argv = ins.command.exec ?? shellForm(ins.command.shell);
        scope.cmdSet = true;
        return this.configStep(state, scope, `CMD ${JSON.stringify(argv)}`, (c) => void (c.config.Cmd = argv));
      }
      case 'ENTRYPOINT': {
        const argv = ins.command.exec ?? shellForm(ins.command.shell);
        const keepCmd = scope.cmdSet;
        return this.configStep(state, scope, `ENTRYPOINT ${JSON.stringify(argv)}`, (c) => {
          c.config.Entrypoint = argv;
          // Docker: an ENTRYPOINT drops the Cmd of the base image (not one this stage set).
          if (!keepCmd) delete c.config.Cmd;
        });
      }
      case 'WORKDIR':
        return this.workdir(ins, state, scope, x(ins.value));
      case 'RUN':
        return this.runStep(ins, state, scope);
      case 'COPY':
      case 'ADD':
        // --from may name an image through a global ARG, even one the stage did not declare.
        return this.copy(df, ins, state, scope, x, (w) => this.expand(ins, w, (n) => lookup(n) ?? globals.get(n), df.escape));
      case 'FROM':
        throw this.fail(ins, 'FROM inside a stage');
    }
  }

  private async workdir(ins: Instruction, state: State, scope: StageScope, value: string): Promise<{ state: State; cached: boolean }> {
    if (!value) throw this.fail(ins, 'the directory is empty after substitution');
    let dir = posix.normalize(value.startsWith('/') ? value : posix.join(state.config.config.WorkingDir || '/', value));
    if (dir.length > 1 && dir.endsWith('/')) dir = dir.slice(0, -1);
    const createdBy = `WORKDIR ${dir}`;
    return this.cached(state, scope, createdBy, undefined, async () => {
      const tree = this.tree(state);
      let r: ReturnType<MergedTree['resolve']>;
      try {
        r = tree.resolve(dir, true);
      } catch (e) {
        throw this.fail(
          ins,
          `${dir}: ${(e as Error).message === 'ENOTDIR' ? 'a file of the image is in the way' : 'too many levels of symlinks'}`,
        );
      }
      const setDir = (c: BuildConfig) => void (c.config.WorkingDir = dir);
      if (r.entry?.st.isDirectory()) return deriveState(state, createdBy, setDir);
      if (r.entry) throw this.fail(ins, `${dir} exists in the image and is not a directory`);
      const items: PlanItem[] = [{ kind: 'dir', path: r.components.join('/'), mode: -1, uid: 0, gid: 0, mtime: 0 }];
      const tarPath = this.store.tempPath('build-layer');
      try {
        const diffId = await writeLayerTar(tarPath, async (write) => {
          await writePlan(
            items,
            tree,
            { uid: 0, gid: 0 },
            Math.floor(Date.now() / 1000),
            write,
            (w) => this.fail(ins, w),
            this.opts.signal,
          );
        });
        return await this.addLayer(state, tarPath, diffId, createdBy, setDir);
      } finally {
        rmSync(tarPath, { force: true });
      }
    });
  }

  private async runStep(
    ins: Extract<Instruction, { keyword: 'RUN' | 'CMD' | 'ENTRYPOINT' }>,
    state: State,
    scope: StageScope,
  ): Promise<{ state: State; cached: boolean }> {
    const run = state.config.config;
    const argv = ins.command.exec ?? [...(run.Shell ?? DEFAULT_SHELL), ins.command.shell];
    // Build arguments reach the command as environment variables, unless ENV sets the same name.
    const argEnv = argsInEffect(scope).filter((kv) => envValue(run.Env, kv.slice(0, kv.indexOf('='))) === undefined);
    const prefix = argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ` : '';
    const createdBy = `RUN ${prefix}${ins.command.exec ? JSON.stringify(argv) : argv.join(' ')}`;
    return this.cached(state, scope, createdBy, undefined, async () => {
      const { containers } = this.svc;
      const config: ImageConfigRun = { ...run };
      delete config.Volumes;
      delete (config as RunConfig).Shell;
      const { Id } = await containers.create(
        { image: state.id, cmd: argv, entrypoint: [], env: argEnv },
        { id: state.id, layers: state.layers, config },
      );
      const step = this.step;
      this.emit({ type: 'running', step, container: Id });
      try {
        const exit = containers.wait(Id, 'next-exit', this.opts.signal);
        exit.catch(() => undefined); // awaited below; this only keeps an early rejection from being unhandled
        await containers.start(Id, undefined, {
          onOutput: (stream, data) =>
            this.emit({ type: 'output', step, stream: stream === 'stderr' ? 'stderr' : 'stdout', data: data.toString('base64') }),
        });
        const status = await exit;
        if (status.exitCode !== 0) {
          throw new BerthError(
            ErrorCode.BuildFailed,
            `Dockerfile:${ins.line}: RUN: the command '${argv.join(' ')}' returned a non-zero code: ${status.exitCode}`,
            {
              operation: OP,
              line: ins.line,
              ...(this.dockerfilePath ? { path: this.dockerfilePath } : {}),
            },
          );
        }
        this.checkAbort();
        const { upper } = containers.runtimeOf(containers.find(Id, OP));
        let empty: boolean;
        try {
          empty = walkUpper(upper).length === 0;
        } catch (e) {
          throw systemError(OP, e, { path: upper });
        }
        if (empty) return deriveState(state, createdBy, () => {});
        const tarPath = this.store.tempPath('build-layer');
        try {
          let diffId: string;
          try {
            diffId = await writeLayerTar(tarPath, (write) => writeUpperTar(upper, write));
          } catch (e) {
            throw systemError(OP, e, { path: upper });
          }
          return await this.addLayer(state, tarPath, diffId, createdBy);
        } finally {
          rmSync(tarPath, { force: true });
        }
      } finally {
        try {
          await containers.remove(Id, true, true);
          this.emit({ type: 'removed', step, container: Id });
        } catch (e) {
          this.svc.log?.(`build: removing step container ${Id.slice(0, 12)}: ${(e as Error).message}`);
        }
      }
    });
  }

  private async copy(
    df: Dockerfile,
    ins: Extract<Instruction, { keyword: 'COPY' | 'ADD' }>,
    state: State,
    scope: StageScope,
    x: (word: string, quotes?: boolean) => string,
    xFrom: (word: string) => string,
  ): Promise<{ state: State; cached: boolean }> {
    const sources = ins.sources.map((s) => x(s, !ins.json));
    const dest = x(ins.dest, !ins.json);
    if (dest === '') throw this.fail(ins, 'the destination is empty');
    const from = ins.from !== undefined ? xFrom(ins.from) : undefined;
    const chown = ins.chown !== undefined ? x(ins.chown) : undefined;
    const tree = this.tree(state);
    const src = from !== undefined ? await this.fromSource(df, ins, from) : contextSource(this.context!);
    const fail = (what: string) => this.fail(ins, what);
    let owner = { uid: 0, gid: 0 };
    if (chown !== undefined) {
      const reader = new RootfsReader(state.layers.map((l) => this.store.layerDiffDir(l.chainId)).reverse());
      owner = resolveOwner(chown, (name) => reader.readFile(`/etc/${name}`)?.toString('utf8'), fail);
    }
    const now = Math.floor(Date.now() / 1000);
    const plan = planCopy(
      src,
      tree,
      {
        keyword: ins.keyword,
        sources,
        dest,
        workdir: state.config.config.WorkingDir ?? '',
        owner,
        chmod: ins.chmod !== undefined ? parseInt(ins.chmod, 8) : undefined,
        fromContext: from === undefined,
        now,
        signal: this.opts.signal,
      },
      fail,
    );
    for (const w of plan.warnings) this.emit({ type: 'message', step: this.step, message: w });
    const flags = [
      from !== undefined ? `--from=${from}` : '',
      chown !== undefined ? `--chown=${chown}` : '',
      ins.chmod !== undefined ? `--chmod=${ins.chmod}` : '',
    ].filter(Boolean);
    const createdBy = [ins.keyword, ...flags, ...sources, dest].join(' ');
    const tarPath = this.store.tempPath('build-layer');
    try {
      let content = '';
      const diffId = await writeLayerTar(tarPath, async (write) => {
        content = (await writePlan(plan.items, tree, owner, now, write, fail, this.opts.signal)).contentDigest;
      });
      return await this.cached(state, scope, createdBy, content, () => this.addLayer(state, tarPath, diffId, createdBy));
    } finally {
      rmSync(tarPath, { force: true });
    }
  }
}
