/**
 * The fake Berth agent of the client tests (the CLI's and the extension's): a real vscode-jsonrpc
 * server on a real Unix socket. It models an agent, answering version,
 * subscribe, image/list and the container verbs (create, start, stop, kill, remove, list, logs
 * with follow, restart, diff, commit, prune; exec with attached streams: a tty "shell" that echoes
 * what it is typed and exits on `exit N`) with vscode-jsonrpc, image/prune, pushes events on demand, and can misbehave (never answer,
 * speak another protocol revision, go away). A test may also script the answer to any method
 * (`handlers`, in place of the modeled one; what neither knows is MethodNotFound), and every
 * request received is recorded in order (`requests`). The CLI's tests script every answer with
 * {@link startFakeAgent}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  type CancellationToken,
  createMessageConnection,
  type DataCallback,
  SocketMessageReader,
  SocketMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { ResponseError } from 'vscode-jsonrpc';
import {
  API_VERSION,
  CommitContainerRequest,
  ContainerDiffRequest,
  ContainerLogsRequest,
  ExecRequest,
  InputNotification,
  OutputNotification,
  PruneContainersRequest,
  PruneImagesRequest,
  ResizeNotification,
  RestartContainerRequest,
  CreateContainerRequest,
  ErrorCode,
  EventNotification,
  KillContainerRequest,
  ListContainersRequest,
  ListImagesRequest,
  LogLineNotification,
  RemoveContainerRequest,
  StartContainerRequest,
  StopContainerRequest,
  PullProgressNotification,
  PullRequest,
  SubscribeRequest,
  VersionRequest,
  type BerthEvent,
  type ContainerChange,
  type ExecParams,
  type ContainerEventAction,
  type ContainerSummary,
  type CreateContainerParams,
  type ImageSummary,
  type LogLine,
} from '../../protocol';
import {
  FsReadDirectoryRequest,
  FsReadFileRequest,
  FsStatRequest,
  InspectContainerRequest,
  type ContainerInspect,
  type FsFileType,
  type FsPathParams,
} from '../../protocol';
import { InspectVolumeRequest, ListVolumesRequest, PruneVolumesRequest, RemoveVolumeRequest, type Volume } from '../../protocol';
import { WaitContainerRequest, type StartContainerParams } from '../../protocol';
import {
  ContainerChangedNotification,
  ContainerChangesRequest,
  UnwatchContainerChangesRequest,
  type ContainerFileChange,
} from '../../protocol';

/** A file Browse Files serves (symlink targets are absolute paths in the same tree). */
export type FakeFile = { type: 'file'; content: string } | { type: 'dir' } | { type: 'symlink'; target: string } | { type: 'other' };

/** A scripted answer: the request's params (undefined when it has none) -> the result, a ResponseError, or a throw. */
// biome-ignore lint/suspicious/noExplicitAny: each test's handler types the params of the method it scripts
export type FakeHandler = (params: any, ctx: { conn: MessageConnection; token: CancellationToken; socket: Socket }) => unknown;

export interface FakeAgentOptions {
  /** Never answer `berth/version`. */
  silent?: boolean;
  apiVersion?: number;
  /** Scripted answers by method, in place of the modeled agent's. */
  handlers?: Record<string, FakeHandler>;
}

/** The socket reader of the fake: records every request (method and params) before it is handled. */
class RecordingReader extends SocketMessageReader {
  constructor(
    socket: Socket,
    private readonly requests: { method: string; params: unknown }[],
  ) {
    super(socket);
  }

  override listen(callback: DataCallback) {
    return super.listen((m) => {
      const o = m as { method?: unknown; id?: unknown; params?: unknown };
      if (typeof o.method === 'string' && o.id !== undefined) this.requests.push({ method: o.method, params: o.params });
      callback(m);
    });
  }
}

export class FakeAgent {
  images: ImageSummary[] = [];
  listCalls = 0;
  /** Leave `image/list` unanswered. */
  hangList = false;
  /** Pulls the client cancelled (`$/cancelRequest` arrived). */
  cancelledPulls: string[] = [];
  subscribers = new Set<MessageConnection>();
  containers: ContainerSummary[] = [];
  containerListCalls = 0;
  /** Every container request, in order: "start web", "remove web force" ... */
  calls: string[] = [];
  /** `container/create` params as received. */
  created: CreateContainerParams[] = [];
  /** IDs of the containers `created` made, in the same order. */
  createdIds: string[] = [];
  /** Attached (`stream`) `container/start` params as received. */
  starts: StartContainerParams[] = [];
  /** `container/wait`s waiting for an exit, by container ID. */
  private exitWaiters = new Map<string, Set<(code: number) => void>>();
  /** Lines each container wrote (by ID), for `container/logs`. */
  logs = new Map<string, LogLine[]>();
  /** Followed logs still open: container ID -> (line) => void. */
  private followers = new Map<string, Set<(l: LogLine | undefined) => void>>();
  /** Follow requests the client cancelled. */
  cancelledLogs = 0;
  /** `container/exec` params as received. */
  execs: ExecParams[] = [];
  /** Whether `test -x /bin/bash` succeeds in the containers. */
  hasBash = true;
  /** Input bytes (decoded) and resizes each exec token received, in order. */
  inputs = new Map<string, string>();
  resizes: { token: string; rows: number; cols: number }[] = [];
  /** Execs the client cancelled (their tokens). */
  cancelledExecs: string[] = [];
  /** What `container/diff` answers, by container ID. */
  changes = new Map<string, ContainerChange[]>();
  /** Files of containers and images, by "container:<ID>" or "image:sha256:<hex>", then absolute path. */
  files = new Map<string, Record<string, FakeFile>>();
  /** Volumes (`volume/list`); a container uses one when its Mounts name it. */
  volumes: Volume[] = [];
  /** Every fs/* request: "stat container:<id> /etc". */
  fsCalls: string[] = [];
  /** What `container/changes` answers, by container ID (watches are then fed by {@link pushChanges}). */
  fileChanges = new Map<string, ContainerFileChange[]>();
  /** Open change watches by token; and the tokens unwatched, in order. */
  changeWatches = new Map<string, { conn: MessageConnection; id: string; seq: number }>();
  unwatched: string[] = [];
  /** Bytes `container/prune` and `image/prune` say they freed. */
  reclaimed = 0;
  /** Every request received (modeled, scripted or unknown), in order. */
  requests: { method: string; params: unknown }[] = [];
  private connections = new Set<MessageConnection>();
  private server: Server | undefined;
  private sockets = new Set<Socket>();

  constructor(
    readonly socket: string,
    private readonly opts: FakeAgentOptions = {},
  ) {}

  static dir(): { dir: string; socket: string; remove(): void } {
    const dir = mkdtempSync('/tmp/berth-fake-agent-');
    return { dir, socket: join(dir, 'agent.sock'), remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  async listen(): Promise<this> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.socket, () => res());
    });
    this.server = server;
    return this;
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    const c = createMessageConnection(new RecordingReader(s, this.requests), new SocketMessageWriter(s));
    this.connections.add(c);
    c.onClose(() => this.connections.delete(c));
    c.onRequest(VersionRequest.type, () =>
      this.opts.silent
        ? new Promise<never>(() => {})
        : {
            Version: 'fake',
            ApiVersion: this.opts.apiVersion ?? API_VERSION,
            Os: 'linux',
            Arch: 'amd64',
            Pid: process.pid,
            Root: '/fake',
            Socket: this.socket,
          },
    );
    c.onRequest(SubscribeRequest.type, () => {
      this.subscribers.add(c);
    });
    c.onRequest(ListImagesRequest.type, () => {
      this.listCalls++;
      return this.hangList ? new Promise<never>(() => {}) : this.images;
    });
    // A pull that reports one layer's progress, then waits until the client cancels it.
    c.onRequest(PullRequest.type, (p, token) => {
      if (p.progressToken) {
        void c.sendNotification(PullProgressNotification.type, {
          token: p.progressToken,
          reference: p.reference,
          layer: { digest: 'sha256:l1', phase: 'downloading', current: 10, total: 100 },
        });
      }
      return new Promise<never>((_, reject) =>
        token.onCancellationRequested(() => {
          this.cancelledPulls.push(p.reference);
          reject(new ResponseError(ErrorCode.Cancelled, `pull ${p.reference}: cancelled`, { operation: 'pull' }));
        }),
      );
    });
    c.onRequest(ListContainersRequest.type, () => {
      this.containerListCalls++;
      return this.containers;
    });
    c.onRequest(CreateContainerRequest.type, (p) => {
      this.created.push(p);
      const id = (this.containers.length + 1).toString(16).padStart(2, '0').repeat(32);
      this.createdIds.push(id);
      const name = p.name ?? `fake_${this.containers.length + 1}`;
      this.containers.push(fakeContainer(id, name, p.image, 'created'));
      this.calls.push(`create ${name}`);
      this.containerEvent('create', id);
      return { Id: id, Name: name };
    });
    c.onRequest(StartContainerRequest.type, (p) => {
      this.transition('start', p.container, (x) => {
        x.State = 'running';
        x.StartedAt = new Date().toISOString();
      });
      // An attached byte stream (run -it): the container is a "shell" like the tty exec below.
      if (p.stream && p.attachToken) {
        const x = this.find(p.container);
        this.starts.push(p);
        shellSession(p.attachToken, '# ', (code) => this.exitContainer(x.Id, code));
      }
    });
    // Waits answer at the container's next exit.
    c.onRequest(WaitContainerRequest.type, (p, token) => {
      const x = this.find(p.container);
      return new Promise((resolve, reject) => {
        const set = this.exitWaiters.get(x.Id) ?? new Set();
        this.exitWaiters.set(x.Id, set);
        const waiter = (code: number) => resolve({ StatusCode: code, OOMKilled: false });
        set.add(waiter);
        token.onCancellationRequested(() => {
          set.delete(waiter);
          reject(new ResponseError(ErrorCode.Cancelled, 'wait container: cancelled', { operation: 'wait container' }));
        });
      });
    });
    c.onRequest(StopContainerRequest.type, (p) => this.transition('stop', p.container, (x) => this.exit(x, 143, ['kill', 'die', 'stop'])));
    c.onRequest(KillContainerRequest.type, (p) => this.transition('kill', p.container, (x) => this.exit(x, 137, ['kill', 'die'])));
    c.onRequest(RemoveContainerRequest.type, (p) => {
      const x = this.find(p.container);
      this.calls.push(`remove ${x.Names[0]!.slice(1)}${p.force ? ' force' : ''}`);
      if (x.State === 'running' && !p.force)
        throw new ResponseError(ErrorCode.Conflict, `remove ${p.container}: the container is running`, { operation: 'remove' });
      if (x.State === 'running') this.exit(x, 137, ['kill', 'die']);
      this.containers = this.containers.filter((y) => y !== x);
      this.containerEvent('destroy', x.Id);
    });
    c.onRequest(ContainerLogsRequest.type, (p, token) => {
      const x = this.find(p.container);
      const lines = this.logs.get(x.Id) ?? [];
      if (!p.follow) return { lines };
      for (const line of lines) void c.sendNotification(LogLineNotification.type, { token: p.token!, container: x.Id, line });
      if (x.State !== 'running') return { lines: [] };
      return new Promise((resolve, reject) => {
        const set = this.followers.get(x.Id) ?? new Set();
        this.followers.set(x.Id, set);
        const follower = (line: LogLine | undefined) => {
          if (line) return void c.sendNotification(LogLineNotification.type, { token: p.token!, container: x.Id, line });
          set.delete(follower);
          resolve({ lines: [] });
        };
        set.add(follower);
        token.onCancellationRequested(() => {
          set.delete(follower);
          this.cancelledLogs++;
          reject(new ResponseError(ErrorCode.Cancelled, 'logs: cancelled', { operation: 'logs' }));
        });
      });
    });
    c.onRequest(RestartContainerRequest.type, (p) =>
      this.transition('restart', p.container, (x) => {
        this.exit(x, 143, ['kill', 'die', 'stop']);
        x.State = 'running';
        x.StartedAt = new Date().toISOString();
        this.containerEvent('start', x.Id);
        this.containerEvent('restart', x.Id);
      }),
    );
    c.onRequest(ContainerDiffRequest.type, (p) => this.changes.get(this.find(p.container).Id) ?? []);
    c.onRequest(ContainerChangesRequest.type, (p) => {
      const x = this.find(p.container);
      if (p.watchToken) this.changeWatches.set(p.watchToken, { conn: c, id: x.Id, seq: 0 });
      return {
        Id: x.Id,
        Running: x.State === 'running',
        ImageLayers: [{ index: 0, digest: 'sha256:' + 'd'.repeat(64), chainId: 'sha256:' + 'c'.repeat(64), createdBy: 'COPY rootfs /' }],
        Changes: this.fileChanges.get(x.Id) ?? [],
        Seq: 0,
        ...(p.watchToken ? { Watch: 'inotify' as const } : {}),
      };
    });
    c.onRequest(UnwatchContainerChangesRequest.type, (p) => {
      this.unwatched.push(p.watchToken);
      this.changeWatches.delete(p.watchToken);
    });
    c.onRequest(CommitContainerRequest.type, (p) => {
      const x = this.find(p.container);
      const id = `sha256:${(this.images.length + 1).toString(16).padStart(2, '0').repeat(32)}`;
      this.calls.push(`commit ${x.Names[0]!.slice(1)} ${p.reference ?? '-'} ${p.comment ?? '-'}`);
      this.images.push({
        Id: id,
        RepoTags: p.reference ? [p.reference] : [],
        RepoDigests: [],
        Created: Math.floor(Date.now() / 1000),
        Size: 1000,
        Layers: 2,
        Labels: {},
      });
      this.containerEvent('commit', x.Id);
      if (p.reference) this.emit({ Type: 'image', Action: 'tag', Actor: { ID: id, Attributes: { name: p.reference } } });
      return { Id: id, Layer: { Digest: 'sha256:layer', DiffID: 'sha256:diff', Size: 1000 } };
    });
    c.onRequest(PruneContainersRequest.type, () => {
      const gone = this.containers.filter((x) => x.State !== 'running');
      this.calls.push('prune containers');
      this.containers = this.containers.filter((x) => x.State === 'running');
      for (const x of gone)
        this.emit({
          Type: 'container',
          Action: 'destroy',
          Actor: { ID: x.Id, Attributes: { name: x.Names[0]!.slice(1), image: x.Image } },
        });
      return { Deleted: gone.map((x) => x.Id), Untagged: [], SpaceReclaimed: this.reclaimed };
    });
    c.onRequest(PruneImagesRequest.type, () => {
      const gone = this.images.filter((i) => i.RepoTags.length === 0);
      this.calls.push('prune images');
      this.images = this.images.filter((i) => i.RepoTags.length > 0);
      for (const i of gone) this.emit({ Type: 'image', Action: 'delete', Actor: { ID: i.Id, Attributes: {} } });
      return {
        Deleted: [...gone.map((i) => i.Id), ...gone.map(() => `sha256:${'c'.repeat(64)}`)],
        Untagged: [],
        SpaceReclaimed: this.reclaimed,
      };
    });

    // Exec: `test -x /bin/bash` answers by hasBash; a tty exec is a "shell" that echoes its input
    // (CR as CRLF, as a pty would) and exits with N when a line reads `exit N`.
    const sessions = new Map<string, (data: string) => void>();
    /** A "shell" on stream `t` (exec's or an attached start's): prompts, echoes, ends at `exit N` with `exit(N)`. */
    const shellSession = (t: string, prompt: string, exit: (code: number) => void): void => {
      const out = (s: string) =>
        void c.sendNotification(OutputNotification.type, { token: t, stream: 'tty', data: Buffer.from(s).toString('base64') });
      out(prompt);
      let line = '';
      sessions.set(t, (text) => {
        for (const ch of text) {
          if (ch !== '\r') {
            line += ch;
            out(ch);
            continue;
          }
          out('\r\n');
          const m = /^exit(?: (\d+))?$/.exec(line.trim());
          line = '';
          if (m) {
            sessions.delete(t);
            return exit(Number(m[1] ?? 0));
          }
          out(prompt);
        }
      });
    };
    c.onNotification(InputNotification.type, (n) => {
      if (!n.data) return;
      const text = Buffer.from(n.data, 'base64').toString('utf8');
      this.inputs.set(n.token, (this.inputs.get(n.token) ?? '') + text);
      sessions.get(n.token)?.(text);
    });
    c.onNotification(ResizeNotification.type, (n) => void this.resizes.push({ token: n.token, rows: n.rows, cols: n.cols }));
    c.onRequest(ExecRequest.type, (p, token) => {
      const x = this.find(p.container);
      this.execs.push(p);
      if (x.State !== 'running')
        throw new ResponseError(ErrorCode.Conflict, `exec in container ${p.container}: the container is not running`, {
          operation: 'exec in container',
        });
      if (p.cmd[0] === 'test') return { ExitCode: this.hasBash ? 0 : 1 };
      const t = p.attachToken!;
      return new Promise((resolve, reject) => {
        shellSession(t, '$ ', (code) => resolve({ ExitCode: code }));
        token.onCancellationRequested(() => {
          sessions.delete(t);
          this.cancelledExecs.push(t);
          reject(new ResponseError(ErrorCode.Cancelled, 'exec in container: cancelled', { operation: 'exec in container' }));
        });
      });
    });
    // Inspect: the fields the extension reads (Name, Image, State, Config.Tty).
    c.onRequest(InspectContainerRequest.type, (p) => {
      const x = this.find(p.container);
      return {
        Id: x.Id,
        Name: x.Names[0],
        Image: x.ImageID,
        State: { Status: x.State, Running: x.State === 'running', ExitCode: x.ExitCode },
        Config: { Image: x.Image },
      } as unknown as ContainerInspect;
    });
    // Volumes: remove refuses a volume a container uses, as the agent does.
    const volume = (name: string) => {
      const v = this.volumes.find((x) => x.Name === name);
      if (!v) throw new ResponseError(ErrorCode.NotFound, `no such volume: ${name}`, { operation: 'volume' });
      return v;
    };
    const usedBy = (name: string) =>
      this.containers.filter((x) => x.Mounts?.some((m) => m.Type === 'volume' && m.Name === name)).map((x) => x.Names[0]!.slice(1));
    c.onRequest(ListVolumesRequest.type, () => this.volumes);
    c.onRequest(InspectVolumeRequest.type, (p) => volume(p.name));
    c.onRequest(RemoveVolumeRequest.type, (p) => {
      volume(p.name);
      this.calls.push(`remove volume ${p.name}`);
      const users = usedBy(p.name);
      if (users.length)
        throw new ResponseError(ErrorCode.Conflict, `remove volume: volume ${p.name} is in use by ${users.join(', ')}`, {
          operation: 'remove volume',
        });
      this.volumes = this.volumes.filter((v) => v.Name !== p.name);
      this.emit({ Type: 'volume', Action: 'destroy', Actor: { ID: p.name, Attributes: { driver: 'local' } } });
    });
    c.onRequest(PruneVolumesRequest.type, (p) => {
      this.calls.push(`prune volumes${p.all ? ' all' : ''}`);
      const gone = this.volumes.filter((v) => usedBy(v.Name).length === 0 && (p.all || /^[0-9a-f]{64}$/.test(v.Name)));
      this.volumes = this.volumes.filter((v) => !gone.includes(v));
      for (const v of gone) this.emit({ Type: 'volume', Action: 'destroy', Actor: { ID: v.Name, Attributes: { driver: 'local' } } });
      return { VolumesDeleted: gone.map((v) => v.Name), SpaceReclaimed: this.reclaimed };
    });
    // Browse Files, with the real agent's errors (errno in data).
    const fsError = (op: string, path: string, errno: string) =>
      new ResponseError(errno === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.InvalidArgument, `${op} "${path}": ${errno}`, {
        operation: op,
        path,
        errno,
      });
    const fsLookup = (op: string, p: FsPathParams, follow: boolean) => {
      const key = p.target.container !== undefined ? `container:${p.target.container}` : `image:${p.target.image}`;
      this.fsCalls.push(`${op} ${key} ${p.path}`);
      const tree = this.files.get(key);
      if (!tree)
        throw new ResponseError(ErrorCode.NotFound, `${op}: no such ${p.target.container !== undefined ? 'container' : 'image'}`, {
          operation: op,
        });
      // Symlinks on the way are followed; the last one only with `follow`.
      let path = p.path;
      for (let hops = 0; hops < 40; hops++) {
        const parts = path.split('/').filter(Boolean);
        let link: string | undefined;
        for (let k = 1; k <= parts.length && link === undefined; k++) {
          const f = tree[`/${parts.slice(0, k).join('/')}`];
          if (!f) throw fsError(op, p.path, 'ENOENT');
          if (k < parts.length && f.type !== 'dir' && f.type !== 'symlink') throw fsError(op, p.path, 'ENOTDIR');
          if (f.type === 'symlink' && (k < parts.length || follow)) link = [f.target, ...parts.slice(k)].join('/');
        }
        if (link === undefined) return { tree, path, f: tree[path === '' ? '/' : path] ?? tree['/']! };
        path = link;
      }
      throw fsError(op, p.path, 'ELOOP');
    };
    const typeOf = (f: FakeFile): FsFileType =>
      f.type === 'file' ? 'file' : f.type === 'dir' ? 'dir' : f.type === 'other' ? 'other' : 'symlink';
    c.onRequest(FsStatRequest.type, (p) => {
      const own = fsLookup('stat', p, false);
      const to = own.f.type === 'symlink' ? fsLookup('stat', p, true).f : own.f;
      return {
        type: typeOf(to),
        symlink: own.f.type === 'symlink',
        size: to.type === 'file' ? Buffer.byteLength(to.content) : 0,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000_000,
      };
    });
    c.onRequest(FsReadDirectoryRequest.type, (p) => {
      const { tree, path, f } = fsLookup('read directory', p, true);
      if (f.type !== 'dir') throw fsError('read directory', p.path, 'ENOTDIR');
      const prefix = path === '/' ? '/' : `${path}/`;
      const names = Object.keys(tree).filter(
        (k) => k.startsWith(prefix) && k.length > prefix.length && !k.slice(prefix.length).includes('/'),
      );
      return {
        entries: names.sort().map((k) => {
          const e = tree[k]!;
          const to = e.type === 'symlink' ? tree[e.target] : e;
          return { name: k.slice(prefix.length), type: to ? typeOf(to) : 'symlink', symlink: e.type === 'symlink' };
        }),
      };
    });
    c.onRequest(FsReadFileRequest.type, (p) => {
      const { f } = fsLookup('read file', p, true);
      if (f.type === 'dir') throw fsError('read file', p.path, 'EISDIR');
      if (f.type !== 'file') throw fsError('read file', p.path, 'EINVAL');
      const data = Buffer.from(f.content);
      return { data: data.toString('base64'), size: data.length };
    });
    c.onClose(() => {
      this.subscribers.delete(c);
      for (const [t, w] of this.changeWatches) if (w.conn === c) this.changeWatches.delete(t);
    });
    this.script(c, s);
    c.listen();
  }

  /** Installs the scripted handlers over the modeled ones, and MethodNotFound for the rest. */
  private script(c: MessageConnection, s: Socket): void {
    for (const [method, h] of Object.entries(this.opts.handlers ?? {})) {
      // vscode-jsonrpc passes (params, token), or (token) alone for a request without params.
      c.onRequest(method, async (...args: unknown[]) => {
        const token = args[args.length - 1] as CancellationToken;
        const params = args.length > 1 ? args[0] : undefined;
        try {
          return await h(params, { conn: c, token, socket: s });
        } catch (err) {
          if (err instanceof ResponseError) return err;
          throw err;
        }
      });
    }
    c.onRequest((method: string) => new ResponseError(-32601, `fake agent: no handler for ${method}`));
  }

  emit(e: Partial<BerthEvent> = {}): void {
    const event = { Type: 'image', Action: 'tag', Actor: { ID: 'sha256:x', Attributes: {} }, time: 0, timeNano: 0, ...e } as BerthEvent;
    for (const c of this.subscribers) void c.sendNotification(EventNotification.type, event);
  }

  /**
   * The container changes files: its list is updated and every watch of it is sent a
   * `container/changed` (the next seq; `gone` ends the watch).
   */
  pushChanges(container: string, changed: ContainerFileChange[], removed: string[] = [], gone = false): void {
    const x = this.find(container);
    const list = new Map((this.fileChanges.get(x.Id) ?? []).map((f) => [f.Path, f]));
    for (const p of removed) list.delete(p);
    for (const f of changed) list.set(f.Path, f);
    this.fileChanges.set(x.Id, [...list.values()]);
    for (const [token, w] of this.changeWatches) {
      if (w.id !== x.Id) continue;
      void w.conn.sendNotification(ContainerChangedNotification.type, {
        token,
        container: x.Id,
        seq: ++w.seq,
        changed,
        removed,
        ...(gone ? { gone } : {}),
      });
      if (gone) this.changeWatches.delete(token);
    }
  }

  /** The container writes a line (followers get it at once). */
  write(container: string, line: string, stream: LogLine['stream'] = 'stdout'): void {
    const x = this.find(container);
    const l: LogLine = { time: new Date().toISOString(), stream, line };
    this.logs.set(x.Id, [...(this.logs.get(x.Id) ?? []), l]);
    for (const f of this.followers.get(x.Id) ?? []) f(l);
  }

  /** The container's init exits by itself. */
  exitContainer(container: string, code: number): void {
    this.exit(this.find(container), code, ['die']);
  }

  private find(ref: string): ContainerSummary {
    const x = this.containers.find((c) => c.Id === ref || c.Names[0] === `/${ref}` || c.Id.startsWith(ref));
    if (!x) throw new ResponseError(ErrorCode.NotFound, `no such container: ${ref}`, { operation: 'container' });
    return x;
  }

  private transition(verb: string, ref: string, change: (x: ContainerSummary) => void): void {
    const x = this.find(ref);
    this.calls.push(`${verb} ${x.Names[0]!.slice(1)}`);
    change(x);
    if (verb === 'start') this.containerEvent('start', x.Id);
  }

  private exit(x: ContainerSummary, code: number, actions: ContainerEventAction[]): void {
    if (x.State !== 'running') return;
    x.State = 'exited';
    x.ExitCode = code;
    for (const w of this.exitWaiters.get(x.Id) ?? []) w(code);
    this.exitWaiters.delete(x.Id);
    // --rm: gone once it exits (after its exit events).
    if (this.created.find((p, i) => p.autoRemove && this.createdIds[i] === x.Id)) {
      setImmediate(() => {
        this.containers = this.containers.filter((y) => y !== x);
        this.containerEvent('destroy', x.Id);
      });
    }
    x.FinishedAt = new Date().toISOString();
    for (const f of this.followers.get(x.Id) ?? []) f(undefined);
    for (const a of actions) this.containerEvent(a, x.Id);
  }

  private containerEvent(Action: ContainerEventAction, id: string): void {
    const x = this.containers.find((c) => c.Id === id);
    this.emit({
      Type: 'container',
      Action,
      Actor: { ID: id, Attributes: { name: x?.Names[0]?.slice(1) ?? '', image: x?.Image ?? '' } },
      time: 0,
      timeNano: 0,
    });
  }

  /** Stops listening, removes the socket and drops every connection (as a killed agent would). */
  async stop(): Promise<void> {
    for (const c of this.connections) c.dispose();
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A listening fake agent in a fresh directory, and a way to stop it and remove the directory. */
export type StartedFakeAgent = FakeAgent & { dir: string; close(): Promise<void> };

/**
 * Starts a fake agent in a fresh temporary directory, answering with `handlers` (the CLI's tests
 * script every answer this way; the modeled agent answers what they leave out).
 */
export async function startFakeAgent(handlers: Record<string, FakeHandler>, opts: FakeAgentOptions = {}): Promise<StartedFakeAgent> {
  const d = FakeAgent.dir();
  const agent = await new FakeAgent(d.socket, { ...opts, handlers }).listen();
  return Object.assign(agent, {
    dir: d.dir,
    async close() {
      await agent.stop();
      d.remove();
    },
  });
}

export const NEVER = '0001-01-01T00:00:00Z';

export function fakeVolume(name: string, labels: Record<string, string> = {}): Volume {
  return {
    Name: name,
    Driver: 'local',
    Mountpoint: `/var/lib/berth/volumes/${name}/_data`,
    CreatedAt: '2024-01-01T00:00:00Z',
    Labels: labels,
    Scope: 'local',
    Options: null,
  };
}

export function fakeContainer(
  id: string,
  name: string,
  image: string,
  state: ContainerSummary['State'],
  extra: Partial<ContainerSummary> = {},
): ContainerSummary {
  return {
    Id: id,
    Names: [`/${name}`],
    Image: image,
    ImageID: `sha256:${'ab'.repeat(32)}`,
    Command: 'sh -c sleep 600',
    Created: Math.floor(Date.now() / 1000),
    State: state,
    ExitCode: 0,
    OOMKilled: false,
    StartedAt: state === 'created' ? NEVER : new Date().toISOString(),
    FinishedAt: state === 'exited' ? new Date().toISOString() : NEVER,
    Labels: {},
    Ports: [],
    ...extra,
  };
}

/** Resolves when `pred` holds, checking on every state change or event; rejects after `ms`. */
export function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}
