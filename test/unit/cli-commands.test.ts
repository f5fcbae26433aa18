/**
 * The CLI's command handlers against a fake agent: a real vscode-jsonrpc server on a real Unix
 * socket answering with canned protocol objects. The CLI runs as a function (main(argv, io)), and
 * once as a real process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import {
  ErrorCode,
  EventNotification,
  ImageHistoryRequest,
  InspectImageRequest,
  ListImagesRequest,
  LoadImagesRequest,
  PullProgressNotification,
  PullRequest,
  RemoveImageRequest,
  SaveImagesRequest,
  SubscribeRequest,
  TagImageRequest,
  VersionRequest,
  type BerthEvent,
  type HistoryEntry,
  type ImageInspect,
  type ImageSummary,
  type PullParams,
  type PullResult,
  type VersionResult,
} from '../../protocol';
import { main, type CliIO } from '../../cli/main';
import { connectAgent } from '../../cli/client';
import { startFakeAgent, type FakeHandler, type StartedFakeAgent } from '../support/fakeAgent';

const NOW = Date.UTC(2026, 10, 22, 21, 40, 0);
const hex = (c: string) => c.repeat(64).slice(0, 64);
const BUSYBOX_ID = `sha256:a416a98b71e2${hex('1').slice(12)}`;
const APP_ID = `sha256:0123456789ab${hex('2').slice(12)}`;
const DANGLING_ID = `sha256:fedcba987654${hex('3').slice(12)}`;
const BUSYBOX_DIGEST = `sha256:${hex('d')}`;
const LAYER = `sha256:${hex('e')}`;

const IMAGES: ImageSummary[] = [
  {
    Id: BUSYBOX_ID,
    RepoTags: ['docker.io/library/busybox:latest'],
    RepoDigests: [`docker.io/library/busybox@${BUSYBOX_DIGEST}`],
    Created: NOW / 1000 - 120,
    Size: 4_260_000,
    Layers: 1,
    Labels: {},
  },
  {
    Id: APP_ID,
    RepoTags: ['127.0.0.1:5000/team/app:v1', '127.0.0.1:5000/team/app:latest'],
    RepoDigests: [],
    Created: NOW / 1000 - 3 * 86400,
    Size: 125_000_000,
    Layers: 3,
    Labels: { a: 'b' },
  },
  { Id: DANGLING_ID, RepoTags: [], RepoDigests: [], Created: 0, Size: 523, Layers: 1, Labels: {} },
];

const INSPECT: ImageInspect = {
  Id: BUSYBOX_ID,
  RepoTags: ['docker.io/library/busybox:latest'],
  RepoDigests: [`docker.io/library/busybox@${BUSYBOX_DIGEST}`],
  Created: '2026-11-22T21:38:00Z',
  Author: '',
  Architecture: 'amd64',
  Os: 'linux',
  Size: 4_260_000,
  Config: {
    User: '',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Entrypoint: null,
    Cmd: ['sh'],
    WorkingDir: '',
    ExposedPorts: {},
    Volumes: {},
    Labels: {},
    StopSignal: '',
  },
  RootFS: { Type: 'layers', Layers: [`sha256:${hex('f')}`] },
  Metadata: { LastTagTime: '2026-11-22T21:39:00Z' },
  Berth: { ManifestDigest: BUSYBOX_DIGEST, ManifestMediaType: 'application/vnd.oci.image.manifest.v1+json', Layers: [] },
};

const notFound = (what: string) =>
  new ResponseError(ErrorCode.NotFound, `${what}: no such image`, { operation: 'inspect', reference: what });

/** Per-test overrides of the fake agent's handlers. */
const overrides: Record<string, FakeHandler> = {};
let cancelSeen = false;

const handlers: Record<string, FakeHandler> = {
  [VersionRequest.method]: (): VersionResult => ({
    Version: '9.9.9',
    ApiVersion: 1,
    Os: 'linux',
    Arch: 'amd64',
    Pid: 4242,
    Root: '/var/lib/berth',
    Socket: agent.socket,
  }),
  [ListImagesRequest.method]: (p: { all?: boolean }) => (p.all ? IMAGES : IMAGES.filter((i) => i.RepoTags.length > 0)),
  [InspectImageRequest.method]: (p: { reference: string }) => {
    if (p.reference === 'busybox') return INSPECT;
    throw notFound(p.reference);
  },
  [RemoveImageRequest.method]: (p: { reference: string; force?: boolean }) => {
    if (p.reference === 'busybox')
      return {
        Untagged: ['docker.io/library/busybox:latest', `docker.io/library/busybox@${BUSYBOX_DIGEST}`],
        Deleted: [BUSYBOX_ID, LAYER],
      };
    if (p.reference === 'app' && !p.force)
      throw new ResponseError(ErrorCode.Conflict, 'remove app: image is referenced by 2 tags; use force', { operation: 'remove' });
    throw notFound(p.reference);
  },
  [TagImageRequest.method]: (p: { source: string }) => {
    if (p.source !== 'busybox') throw new ResponseError(ErrorCode.NotFound, `tag ${p.source}: no such image`, { operation: 'tag' });
    return null;
  },
  [ImageHistoryRequest.method]: (): HistoryEntry[] => [
    {
      Id: BUSYBOX_ID,
      Created: NOW / 1000 - 120,
      CreatedBy: '/bin/sh -c #(nop)  CMD ["sh"]',
      Tags: null,
      Size: 0,
      Comment: '',
      EmptyLayer: true,
    },
    {
      Id: '<missing>',
      Created: NOW / 1000 - 120,
      CreatedBy: '/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ',
      Tags: null,
      Size: 4_260_000,
      Comment: '',
      EmptyLayer: false,
    },
  ],
  [SaveImagesRequest.method]: (p: { path: string }) => ({ path: p.path, size: 1000 }),
  [LoadImagesRequest.method]: () => ({ images: [IMAGES[0], IMAGES[2]], tags: ['docker.io/library/busybox:latest'] }),
  [PullRequest.method]: async (p: PullParams, { conn, token }): Promise<PullResult> => {
    const send = (layer: { phase: string; current: number }) =>
      conn.sendNotification(PullProgressNotification.type, {
        token: p.progressToken!,
        reference: 'docker.io/library/busybox:latest',
        layer: { digest: LAYER, total: 2_000_000, ...layer } as never,
      });
    if (p.reference === 'slow') {
      send({ phase: 'downloading', current: 1000 });
      await new Promise<void>((r) => token.onCancellationRequested(() => r()));
      cancelSeen = true;
      throw new ResponseError(ErrorCode.Cancelled, 'pull slow: cancelled', { operation: 'pull' });
    }
    if (p.reference === 'nope')
      throw new ResponseError(ErrorCode.ManifestUnknown, 'pull docker.io/library/nope:latest: manifest unknown', { operation: 'pull' });
    send({ phase: 'waiting', current: 0 });
    send({ phase: 'downloading', current: 1_000_000 });
    send({ phase: 'downloading', current: 2_000_000 });
    send({ phase: 'done', current: 2_000_000 });
    return { image: IMAGES[0]!, digest: BUSYBOX_DIGEST, upToDate: p.reference === 'busybox:latest' };
  },
  [SubscribeRequest.method]: (_p, { conn }) => {
    const ev: BerthEvent = {
      Type: 'image',
      Action: 'pull',
      Actor: { ID: BUSYBOX_ID, Attributes: { name: 'docker.io/library/busybox:latest' } },
      time: 1795383600,
      // biome-ignore lint/correctness/noPrecisionLoss: a real agent's timeNano loses the same digits in JSON (see the events test)
      timeNano: 1795383600_123456789,
    };
    setTimeout(() => conn.sendNotification(EventNotification.type, ev), 20);
    return null;
  },
};

let agent: StartedFakeAgent;
before(async () => {
  const dispatch: Record<string, FakeHandler> = {};
  for (const m of Object.keys(handlers)) dispatch[m] = (p, c) => (overrides[m] ?? handlers[m]!)(p, c);
  agent = await startFakeAgent(dispatch);
});
after(() => agent.close());

function lastCall(method: string): { method: string; params: unknown } {
  const calls = agent.requests.filter((c) => c.method === method);
  assert.ok(calls.length > 0, `the fake agent got no ${method}`);
  return calls[calls.length - 1]!;
}
const lastParams = (method: string) => lastCall(method).params;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs main() with captured output. `interruptWhen` is polled every 10 ms; once true, Ctrl-C is
 * delivered to the command's handlers (now, or as soon as it registers one).
 */
async function run(argv: string[], opts: Partial<CliIO> & { interruptWhen?: (out: { stdout: string }) => boolean } = {}): Promise<Run> {
  const out = { stdout: '', stderr: '' };
  const onInt = new Set<() => void>();
  let fired = false;
  const { interruptWhen, ...ioOpts } = opts;
  const io: Partial<CliIO> = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: { BERTH_SOCKET: agent.socket, BERTH_NO_AUTOSTART: '1' },
    cwd: '/home/user/work',
    now: () => NOW,
    onInterrupt: (h) => {
      onInt.add(h);
      if (fired) setImmediate(h);
      return () => void onInt.delete(h);
    },
    ...ioOpts,
  };
  const poll = interruptWhen
    ? setInterval(() => {
        if (!fired && interruptWhen(out)) {
          fired = true;
          for (const h of onInt) h();
        }
      }, 10)
    : undefined;
  const code = await main(argv, io);
  clearInterval(poll);
  return { code, ...out };
}

test('pull: progress on stderr (one line per phase off a TTY), status and ref on stdout', async () => {
  const r = await run(['pull', 'busybox']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'Using default tag: latest\n' +
      'latest: Pulling from library/busybox\n' +
      `Digest: ${BUSYBOX_DIGEST}\n` +
      'Status: Downloaded newer image for busybox:latest\n' +
      'docker.io/library/busybox:latest\n',
  );
  assert.equal(r.stderr, 'eeeeeeeeeeee: Waiting\neeeeeeeeeeee: Downloading 1MB/2MB\neeeeeeeeeeee: Pull complete\n');
  const call = lastCall(PullRequest.method);
  assert.equal((call.params as PullParams).reference, 'busybox');
  assert.match((call.params as PullParams).progressToken!, /\S/);
});

test('pull on a terminal: bars redrawn in place on stderr, stdout unchanged', async () => {
  const r = await run(['pull', 'busybox'], { stderrIsTTY: true, columns: 120 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\x1b\[2Keeeeeeeeeeee: /);
  assert.match(r.stderr, /\x1b\[1A\x1b\[2Keeeeeeeeeeee: Pull complete\n$/, 'the final state replaces the line drawn before');
  assert.match(r.stdout, /Status: Downloaded newer image for busybox:latest\n/);
  assert.doesNotMatch(r.stdout, /\x1b/);
});

test('pull: up to date, -q, --platform', async () => {
  const r = await run(['pull', 'busybox:latest']);
  assert.match(r.stdout, /^latest: Pulling from library\/busybox\n/);
  assert.match(r.stdout, /Status: Image is up to date for busybox:latest\n/);
  const q = await run(['pull', '-q', '--platform', 'linux/arm64/v8', '127.0.0.1:5000/team/app:v1']);
  assert.equal(q.code, 0);
  assert.equal(q.stdout, '127.0.0.1:5000/team/app:v1\n');
  assert.equal(q.stderr, '');
  const call = lastCall(PullRequest.method);
  assert.deepEqual((call.params as PullParams).platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  const bad = await run(['pull', '--platform', 'linux', 'busybox']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid platform "linux"/);
});

test('pull: a registry error is one line, exit 1', async () => {
  const r = await run(['pull', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error: pull docker.io/library/nope:latest: manifest unknown\n');
});

test('pull: Ctrl-C cancels the request and exits 130 once the agent answers', async () => {
  cancelSeen = false;
  const started = Date.now();
  const r = await run(['pull', 'slow'], {
    interruptWhen: () => agent.requests.some((c) => (c.params as PullParams | undefined)?.reference === 'slow'),
  });
  assert.equal(r.code, 130);
  assert.equal(cancelSeen, true, 'the agent saw $/cancelRequest');
  assert.ok(Date.now() - started < 3000);
  assert.doesNotMatch(r.stdout, /Status:/);
});

test('images: docker-like table, one row per tag, familiar names, dangling images shown as Docker shows them', async () => {
  const r = await run(['images', '-a']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      'REPOSITORY                TAG       IMAGE ID       CREATED         SIZE',
      'busybox                   latest    a416a98b71e2   2 minutes ago   4.26MB',
      '127.0.0.1:5000/team/app   v1        0123456789ab   3 days ago      125MB',
      '127.0.0.1:5000/team/app   latest    0123456789ab   3 days ago      125MB',
      '<none>                    <none>    fedcba987654   N/A             523B',
      '',
    ].join('\n'),
  );
  const plain = await run(['images']);
  assert.equal(plain.stdout, r.stdout, '-a changes nothing: there are no intermediate images');
  assert.deepEqual(lastParams(ListImagesRequest.method), { all: true });
});

test('images: -q, --digests, --no-trunc', async () => {
  assert.equal((await run(['images', '-aq'])).stdout, 'a416a98b71e2\n0123456789ab\nfedcba987654\n');
  assert.equal((await run(['images', '-q', '--no-trunc'])).stdout, `${BUSYBOX_ID}\n${APP_ID}\n${DANGLING_ID}\n`);
  const d = await run(['images', '--digests']);
  assert.match(d.stdout, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE\n/);
  assert.match(d.stdout, new RegExp(`^busybox +latest +${BUSYBOX_DIGEST} +a416a98b71e2 `, 'm'));
  assert.match(d.stdout, /^127\.0\.0\.1:5000\/team\/app +v1 +<none> +0123456789ab /m);
});

test("images: --format json is the agent's array; templates see the ImageSummary", async () => {
  const j = await run(['images', '-a', '--format', 'json']);
  assert.deepEqual(JSON.parse(j.stdout), IMAGES);
  const t = await run(['images', '--format', '{{.Id}} {{.RepoTags}} {{.Repository}}:{{.Tag}}']);
  assert.equal(
    t.stdout,
    `${BUSYBOX_ID} [docker.io/library/busybox:latest] busybox:latest\n` +
      `${APP_ID} [127.0.0.1:5000/team/app:v1 127.0.0.1:5000/team/app:latest] 127.0.0.1:5000/team/app:v1\n` +
      `${DANGLING_ID} [] <none>:<none>\n`,
  );
  const bad = await run(['images', '--format', '{{.Id']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Error: template: unclosed action/);
});

test('inspect: JSON array indented 4 spaces; a missing image is reported after, exit 1', async () => {
  const ok = await run(['inspect', 'busybox']);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout, JSON.stringify([INSPECT], null, 4) + '\n');
  const some = await run(['inspect', 'nope', 'busybox']);
  assert.equal(some.code, 1);
  assert.deepEqual(JSON.parse(some.stdout), [INSPECT]);
  assert.equal(some.stderr, 'Error: No such object: nope\n');
  const tpl = await run(['inspect', '--format', '{{.Id}} {{.Config.Env}} {{json .Config.Cmd}}', 'busybox']);
  assert.equal(tpl.stdout, `${BUSYBOX_ID} [${INSPECT.Config.Env[0]}] ["sh"]\n`);
});

test('rmi: Untagged/Deleted lines; failures reported per image, exit 1', async () => {
  const r = await run(['rmi', 'busybox']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `Untagged: busybox:latest\nUntagged: busybox@${BUSYBOX_DIGEST}\nDeleted: ${BUSYBOX_ID}\nDeleted: ${LAYER}\n`);
  const c = await run(['rmi', 'app', 'busybox']);
  assert.equal(c.code, 1);
  assert.equal(c.stderr, 'Error: remove app: image is referenced by 2 tags; use force\n');
  assert.match(c.stdout, /^Untagged: busybox:latest\n/);
  await run(['rmi', '-f', 'app']);
  assert.deepEqual(lastParams(RemoveImageRequest.method), { reference: 'app', force: true });
});

test('a ResponseError from the agent is one "Error: ..." line, exit 1', async () => {
  const r = await run(['tag', 'nope', 'x:1']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'Error: tag nope: no such image\n');
  const ok = await run(['tag', 'busybox', 'mine:1']);
  assert.equal(ok.code, 0);
  assert.deepEqual(lastParams(TagImageRequest.method), { source: 'busybox', target: 'mine:1' });
});

test('history: table with truncated CREATED BY; -q', async () => {
  const r = await run(['history', 'busybox']);
  assert.equal(r.code, 0);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
  assert.match(lines[1]!, /^a416a98b71e2 +2 minutes ago +\/bin\/sh -c #\(nop\) CMD \["sh"\] +0B$/);
  assert.match(lines[2]!, /^<missing> +2 minutes ago +\/bin\/sh -c #\(nop\) ADD file:0123456789abcdef0… +4\.26MB$/);
  assert.equal((await run(['history', '-q', 'busybox'])).stdout, 'a416a98b71e2\n<missing>\n');
});

test('save: -o resolved against cwd; no -o is refused', async () => {
  const r = await run(['save', '-o', 'out/bb.tar', 'busybox', 'app']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lastParams(SaveImagesRequest.method), {
    references: ['busybox', 'app'],
    path: '/home/user/work/out/bb.tar',
  });
  const n = await run(['save', 'busybox']);
  assert.equal(n.code, 2);
  assert.match(n.stderr, /use -o FILE/);
  const t = await run(['save', 'busybox'], { stdoutIsTTY: true });
  assert.match(t.stderr, /cowardly refusing to save to a terminal/);
});

test('load: Loaded image lines', async () => {
  const r = await run(['load', '--input', '/tmp/x.tar']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Loaded image: busybox:latest\nLoaded image ID: ${DANGLING_ID}\n`);
  assert.deepEqual(lastParams(LoadImagesRequest.method), { path: '/tmp/x.tar' });
});

test('events: docker-style lines until Ctrl-C (130)', async () => {
  const r = await run(['events'], { interruptWhen: (o) => o.stdout.includes('\n') });
  assert.equal(r.code, 130);
  // timeNano is a JSON number, so only microseconds are kept.
  assert.match(
    r.stdout,
    new RegExp(`^2026-11-22T21:40:00\\.123457000Z image pull ${BUSYBOX_ID} \\(name=docker\\.io/library/busybox:latest\\)\\n$`),
  );
  const j = await run(['events', '--format', 'json'], { interruptWhen: (o) => o.stdout.includes('\n') });
  assert.equal(JSON.parse(j.stdout).Action, 'pull');
});

test('version: client and agent; json', async () => {
  const r = await run(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Client:\n Version: +\S+\n API version: +1\n/);
  assert.match(r.stdout, /\nAgent:\n Version: +9\.9\.9\n[\s\S]* Pid: +4242\n/);
  const j = JSON.parse((await run(['version', '--format', 'json'])).stdout);
  assert.equal(j.Agent.Pid, 4242);
  assert.equal(j.Client.ApiVersion, 1);
});

test('no agent: version prints the client part and an error line, exit 1', async () => {
  const r = await run(['version'], { env: { BERTH_SOCKET: join(agent.dir, 'absent.sock') } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^Client:/);
  assert.doesNotMatch(r.stdout, /Agent:/);
  assert.match(r.stderr, /^berth: cannot reach the agent at .*absent\.sock: ENOENT; start it with `sudo berth agent`\n$/);
});

test('a missing socket without autostart: the clear error, exit 1', async () => {
  const sock = join(agent.dir, 'absent.sock');
  const r = await run(['images'], { env: { BERTH_SOCKET: sock, BERTH_NO_AUTOSTART: '1' } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `berth: cannot reach the agent at ${sock}: ENOENT; start it with \`sudo berth agent\`\n`);
  await assert.rejects(connectAgent({ socket: sock, autostart: false }), /cannot reach the agent/);
});

test('connection lost mid-request: one line, exit 1', async () => {
  overrides[ListImagesRequest.method] = (_p, { socket }) => {
    socket.destroy();
    return new Promise(() => {});
  };
  try {
    const r = await run(['images']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error: lost the connection to the agent at ${agent.socket}\n`);
  } finally {
    delete overrides[ListImagesRequest.method];
  }
});

test('usage errors exit 2; help exits 0', async () => {
  const u = await run(['frobnicate']);
  assert.equal(u.code, 2);
  assert.equal(u.stderr, "berth: 'frobnicate' is not a berth command.\nSee 'berth --help'.\n");
  const a = await run(['tag', 'only-one']);
  assert.equal(a.code, 2);
  assert.equal(a.stderr, '"berth tag" requires exactly 2 arguments\nSee \'berth tag --help\'.\n'.replace(/^/, 'berth tag: '));
  const f = await run(['images', '--bogus']);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^berth images: unknown flag: --bogus\n/);
  const h = await run([]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: +berth/);
  assert.match(h.stdout, /Exit status:/);
  const ph = await run(['pull', '--help']);
  assert.equal(ph.code, 0);
  assert.match(ph.stdout, /^Usage: +berth pull \[OPTIONS\] REF\n/);
  assert.match(ph.stdout, /--platform os\/arch\[\/variant\]/);
});

test('a real process: node --import tsx cli/main.ts images', async () => {
  const root = join(__dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'images'], {
    cwd: root,
    env: { ...process.env, BERTH_SOCKET: agent.socket, BERTH_NO_AUTOSTART: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0, err);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
  assert.match(lines[1]!, /^busybox +latest +a416a98b71e2 +\S.* ago +4\.26MB$/);
  assert.equal(lines.length, 5, 'two tags of one image, one of another, one dangling image');
});
