/**
 * `berth build` end to end: a real agent (the built bundle), a real registry holding a busybox
 * image built from Debian's busybox-static, real RUN containers on the real kernel, and podman
 * loading what `berth save` writes. Cache hits and misses are proven by the build's own per-step
 * report (which steps ran), and by the absence of RUN containers, never by timing.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import {
  BuildImageRequest,
  BuildProgressNotification,
  ErrorCode,
  ImageHistoryRequest,
  InspectImageRequest,
  LayerFilesRequest,
  ListContainersRequest,
  type BuildEvent,
  type BuildParams,
  type BuildResult,
  type HistoryEntry,
  type ImageInspect,
  type LayerFilesResult,
} from '../../protocol';
import { berth, REPO, runWithInput, startAgent, berthAs } from '../support/agent';
import { cgroupLeft } from '../support/containers';
import { expectAgentError, ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { makeTempDir, run, podman } from '../support/tmp';

/** Writes files (path -> content) under `dir`, making parents. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    const abs = join(dir, p);
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, content);
  }
}

describe('berth build', () => {
  // Not pulled up front: the first build pulls its base itself.
  const s = containerSuite({ repo: 'b/box', tools: ['docker-registry', 'tar', 'gzip', 'podman'], pull: false });
  const { cli } = s;
  let ctx: string;

  /** Builds over the protocol, collecting the progress events. */
  const build = async (params: BuildParams, token?: CancellationTokenSource): Promise<{ result: BuildResult; events: BuildEvent[] }> => {
    const progressToken = `t-${Math.random().toString(36).slice(2)}`;
    const events: BuildEvent[] = [];
    const sub = s.conn.onNotification(BuildProgressNotification.type, (n) => {
      if (n.token !== progressToken) return;
      events.push(n.event);
      if (n.event.type === 'running') s.track(n.event.container);
    });
    try {
      const result = await s.conn.sendRequest(BuildImageRequest.type, { ...params, progressToken }, token?.token);
      return { result, events };
    } finally {
      sub.dispose();
    }
  };

  /** A fresh context directory holding `files` and the Dockerfile `dockerfile`. */
  const context = async (dockerfile: string, files: Record<string, string> = {}): Promise<string> => {
    const dir = await makeTempDir('berth-build-ctx-');
    writeTree(dir, { Dockerfile: dockerfile, ...files });
    return dir;
  };

  const MULTI_STAGE = (base: string) => `# syntax=docker/dockerfile:1
# A two-stage build: the first stage makes a file, the second copies it.
ARG BASE=${base}
FROM $BASE AS builder
WORKDIR /src
COPY app/ ./
RUN echo "built by uid $(id -u)" > /src/built.txt && \\
    cat hello.txt >> /src/built.txt

FROM \${BASE}
ENV GREETING="hi there" \\
    TARGET=/opt/app
WORKDIR $TARGET
COPY --from=builder /src/built.txt ./built.txt
COPY --chown=app:app app/sub /opt/app/data/
COPY . /ctx/
USER app
RUN echo "run as $(id -un) in $(pwd)" > /tmp/whoami.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat built.txt; echo $GREETING; cat /tmp/whoami.txt; ls /ctx; stat -c %U data/data.txt"]
LABEL org.example.name=demo
EXPOSE 8080
`;

  before(async () => {
    ctx = await context(MULTI_STAGE(s.ref), {
      'app/hello.txt': 'hello from the context\n',
      'app/sub/data.txt': 'data\n',
      '.dockerignore': '# not for the image\nsecret.txt\n*.log\n',
      'secret.txt': 'do not copy me\n',
      'debug.log': 'noise\n',
    });
  });

  it('builds a multi-stage Dockerfile; the image runs with berth run and shows what the Dockerfile set up', async () => {
    const r = ok(await cli(['build', '-t', 'demo:1', '-t', 'demo:latest', ctx]), 'build');
    assert.match(r.stdout, /^Step 1\/16 : FROM \$BASE AS builder$/m);
    assert.match(r.stdout, /^ ---> Running in [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully built [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully tagged demo:1$/m);
    assert.match(r.stdout, /^Successfully tagged demo:latest$/m);
    assert.doesNotMatch(r.stdout, /Using cache/);

    const out = ok(await cli(['run', '--rm', 'demo:1']), 'run');
    assert.equal(out.stdout, 'built by uid 0\nhello from the context\nhi there\nrun as app in /opt/app\nDockerfile\napp\napp\n');

    const ins = (await s.conn.sendRequest(InspectImageRequest.type, { reference: 'demo:1' })) as ImageInspect;
    assert.ok(ins.Config.Env.includes('GREETING=hi there'), ins.Config.Env.join(' '));
    assert.ok(ins.Config.Env.includes('TARGET=/opt/app'));
    assert.equal(ins.Config.WorkingDir, '/opt/app');
    assert.equal(ins.Config.User, 'app');
    assert.deepEqual(ins.Config.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(ins.Config.Labels, { 'org.berth.test': 'busybox', 'org.example.name': 'demo' });
    assert.deepEqual(ins.Config.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(ins.RepoTags.sort(), ['docker.io/library/demo:1', 'docker.io/library/demo:latest']);

    // History: one row per step of the final stage on top of the base's, created_by per layer.
    const hist = (await s.conn.sendRequest(ImageHistoryRequest.type, { reference: 'demo:1' })) as HistoryEntry[];
    const createdBy = hist.map((h) => h.CreatedBy).reverse();
    assert.deepEqual(createdBy.slice(-11), [
      'ENV GREETING=hi there TARGET=/opt/app',
      'WORKDIR /opt/app',
      'COPY --from=builder /src/built.txt ./built.txt',
      'COPY --chown=app:app app/sub /opt/app/data/',
      'COPY . /ctx/',
      'USER app',
      'RUN /bin/sh -c echo "run as $(id -un) in $(pwd)" > /tmp/whoami.txt',
      'ENTRYPOINT ["/bin/sh","-c"]',
      'CMD ["cat built.txt; echo $GREETING; cat /tmp/whoami.txt; ls /ctx; stat -c %U data/data.txt"]',
      'LABEL org.example.name=demo',
      'EXPOSE 8080/tcp',
    ]);
    assert.equal(createdBy[createdBy.length - 12], 'CMD ["sh"]', 'the base image history comes first');
    const layerRows = hist.filter((h) => !h.EmptyLayer);
    assert.equal(layerRows.length, ins.RootFS.Layers.length, 'one non-empty history row per layer');
    // Each filesystem step is one layer holding exactly what the step changed.
    const files = async (layer: number) =>
      ((await s.conn.sendRequest(LayerFilesRequest.type, { reference: 'demo:1', layer })) as LayerFilesResult).entries.map(
        (e) => `${e.path} ${e.type} ${e.uid}:${e.gid}`,
      );
    const top = ins.RootFS.Layers.length - 1;
    assert.deepEqual(await files(top), ['tmp dir 0:0', 'tmp/whoami.txt file 1000:1000'], 'the RUN layer: the upper dir of its container');
    assert.deepEqual(
      await files(top - 2),
      ['opt dir 0:0', 'opt/app dir 0:0', 'opt/app/data dir 1000:1000', 'opt/app/data/data.txt file 1000:1000'],
      'COPY --chown',
    );
    assert.deepEqual(await files(top - 3), ['opt dir 0:0', 'opt/app dir 0:0', 'opt/app/built.txt file 0:0'], 'COPY --from');
    assert.deepEqual(await files(top - 4), ['opt dir 0:0', 'opt/app dir 0:0'], 'WORKDIR made its directory');
  });

  it('a second build is fully cached: no step runs, same image ID', async () => {
    const first = (await s.conn.sendRequest(InspectImageRequest.type, { reference: 'demo:1' })) as ImageInspect;
    const { result, events } = await build({ contextDir: ctx, tags: ['demo:1'] });
    assert.equal(result.Id, first.Id);
    assert.equal(result.steps.length, 16);
    assert.deepEqual(
      result.steps.filter((s) => !s.cached).map((s) => s.instruction),
      [],
      'every step came from the cache',
    );
    assert.equal(events.filter((e) => e.type === 'running').length, 0, 'no RUN container was started');
    assert.equal(events.filter((e) => e.type === 'cached').length, 14, 'every non-FROM step reported CACHED');
    // The CLI says so the way docker build does.
    const r = ok(await cli(['build', '-t', 'demo:1', ctx]), 'cached build');
    assert.equal(r.stdout.match(/^ ---> Using cache$/gm)?.length, 14);
    assert.doesNotMatch(r.stdout, /Running in/);
    assert.match(r.stdout, new RegExp(`^Successfully built ${first.Id.slice(7, 19)}$`, 'm'));
  });

  it('changing one line re-runs only that step and the ones after it', async () => {
    // The same context (COPY . would see a changed Dockerfile in it), the Dockerfile from elsewhere.
    const df = MULTI_STAGE(s.ref).replace('USER app\n', 'USER app:app\n');
    const dockerfile = join(await makeTempDir('berth-build-df-'), 'Dockerfile.changed');
    writeFileSync(dockerfile, df);
    const { result, events } = await build({ contextDir: ctx, dockerfile, tags: ['demo:2'] });
    const line = df.split('\n').indexOf('USER app:app') + 1;
    for (const s of result.steps) {
      if (s.instruction.startsWith('FROM')) continue;
      assert.equal(s.cached, s.line < line, `line ${s.line} (${s.instruction}) ${s.line < line ? 'is' : 'is not'} cached`);
    }
    assert.equal(result.steps.filter((s) => !s.cached).length, 6, 'USER, RUN, ENTRYPOINT, CMD, LABEL, EXPOSE');
    assert.equal(events.filter((e) => e.type === 'running').length, 1, "only the second stage's RUN ran");
    const out = ok(await cli(['run', '--rm', 'demo:2', 'id -gn; cat /tmp/whoami.txt']), 'run demo:2');
    assert.equal(out.stdout, 'app\nrun as app in /opt/app\n');
  });

  it('--no-cache runs every step again', async () => {
    const { result, events } = await build({ contextDir: ctx, noCache: true });
    assert.deepEqual(
      result.steps.filter((s) => s.cached && !s.instruction.startsWith('FROM')),
      [],
    );
    assert.equal(events.filter((e) => e.type === 'running').length, 2, 'both RUN steps ran');
    const first = (await s.conn.sendRequest(InspectImageRequest.type, { reference: 'demo:1' })) as ImageInspect;
    assert.notEqual(result.Id, first.Id, 'new timestamps make a new image');
  });

  it('-q prints only the ID, -f - reads the Dockerfile from stdin, --build-arg fills ARGs (unknown ones warned)', async () => {
    const df = `ARG BASE\nFROM --platform=$TARGETPLATFORM $BASE\nARG GREETING=hello\nARG UNSET\nENV FROM_ENV=\${GREETING:-none}-\${UNSET:-unset}\nRUN echo "$GREETING/$FROM_ENV" > /greeting\nCOPY --from=$BASE /etc/group /group-from-image\n`;
    const dir = await context('unused: the Dockerfile comes from stdin\n');
    const r = await runWithInput(
      process.execPath,
      [
        join(REPO, 'bin', 'berth'),
        'build',
        '-q',
        '-f',
        '-',
        '--build-arg',
        `BASE=${s.ref}`,
        '--build-arg',
        'GREETING=bonjour',
        '--build-arg',
        'NOBODY_USES=1',
        '-t',
        'args:1',
        dir,
      ],
      s.env,
      df,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(r.stderr, '[Warning] one or more build arguments were not consumed (no ARG declares them): NOBODY_USES\n');
    const out = ok(await cli(['run', '--rm', 'args:1', 'sh', '-c', 'cat /greeting; echo $FROM_ENV; head -1 /group-from-image']), 'run');
    assert.equal(out.stdout, 'bonjour/bonjour-unset\nbonjour-unset\nroot:x:0:\n');
    const hist = (await s.conn.sendRequest(ImageHistoryRequest.type, { reference: 'args:1' })) as HistoryEntry[];
    assert.ok(
      hist.some((h) => h.CreatedBy === 'RUN |1 GREETING=bonjour /bin/sh -c echo "$GREETING/$FROM_ENV" > /greeting'),
      hist.map((h) => h.CreatedBy).join('\n'),
    );
    // The same arguments hit the cache; another value misses from the step that declares it on.
    const again = await build({
      contextDir: dir,
      dockerfileContent: df,
      buildArgs: { BASE: s.ref, GREETING: 'bonjour', NOBODY_USES: '1' },
    });
    assert.ok(again.result.steps.every((s) => s.cached));
    const { result } = await build({ contextDir: dir, dockerfileContent: df, buildArgs: { BASE: s.ref, GREETING: 'salut' } });
    assert.deepEqual(
      result.steps.map((s) => [s.instruction.split(' ')[0], s.cached]),
      [
        ['FROM', true],
        ['ARG', false],
        ['ARG', false],
        ['ENV', false],
        ['RUN', false],
        ['COPY', false],
      ],
    );
  });

  it('a failing RUN fails the build naming the step and the exit code; its container is removed', async () => {
    const dir = await context(`FROM ${s.ref}\nRUN echo made > /made\nRUN echo before; echo oops >&2; exit 3\nRUN echo never\n`);
    const r = await cli(['build', '-t', 'broken:1', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^before$/m, 'the step output was streamed');
    assert.match(r.stdout, /^oops$/m);
    assert.doesNotMatch(r.stdout, /never|Successfully/);
    assert.equal(
      r.stderr.trim(),
      `Error: Dockerfile:3: RUN: the command '/bin/sh -c echo before; echo oops >&2; exit 3' returned a non-zero code: 3`,
    );
    const e = await expectAgentError(
      build({ contextDir: dir }),
      ErrorCode.BuildFailed,
      /^Dockerfile:3: RUN: .* returned a non-zero code: 3$/,
    );
    assert.equal(e.data.line, 3);
    assert.equal(e.data.path, join(dir, 'Dockerfile'));
    const list = await s.conn.sendRequest(ListContainersRequest.type, { all: true });
    assert.deepEqual(list, [], 'no step container is left');
    assert.equal((await cli(['inspect', 'broken:1'])).code, 1, 'nothing was tagged');
  });

  it('a Dockerfile error names the line and the instruction, before anything runs', async () => {
    const cases: [string, RegExp][] = [
      [`FROM ${s.ref}\nRUN echo ok\nCOPY onlyone\n`, /^Dockerfile:3: COPY: needs at least one source and a destination/],
      [`FROM ${s.ref}\n# comment\nFROOM x\n`, /^Dockerfile:3: unknown instruction: FROOM$/],
      [`FROM ${s.ref}\nRUN <<EOF\necho hi\nEOF\n`, /^Dockerfile:2: RUN: heredocs \(<<WORD\) are not supported/],
      [`FROM ${s.ref}\nRUN --mount=type=cache,target=/x true\n`, /^Dockerfile:2: RUN: RUN --mount is not supported/],
      [`FROM ${s.ref}\nHEALTHCHECK CMD true\n`, /^Dockerfile:2: HEALTHCHECK: HEALTHCHECK is not supported/],
      [`FROM ${s.ref}\nCMD ["sh", "-c"\n`, /^Dockerfile:2: CMD: CMD looks like a JSON array but is not valid JSON/],
      [`FROM ${s.ref}\nENV A="\${B:?B is required}"\n`, /^Dockerfile:2: ENV: B: B is required$/],
      [`FROM ${s.ref}\nCOPY secret.txt /\n`, /^Dockerfile:2: COPY: secret.txt: excluded by .dockerignore$/],
      [`FROM ${s.ref}\nCOPY missing.txt /\n`, /^Dockerfile:2: COPY: missing.txt: no such file or directory in the build context$/],
      [`FROM ${s.ref}\nCOPY ../outside /\n`, /^Dockerfile:2: COPY: \.\.\/outside is outside the build context$/],
      [
        `FROM ${s.ref}\nADD https://example.org/x.tar.gz /\n`,
        /^Dockerfile:2: ADD: https:\/\/example.org\/x.tar.gz: ADD from a URL is not supported/,
      ],
      [
        `FROM ${s.ref}\nCOPY a.txt b.txt /notadir\n`,
        /^Dockerfile:2: COPY: with more than one source file, the destination must be a directory and end with a \//,
      ],
      [`FROM ${s.ref}\nUSER nosuchuser\nRUN true\n`, /^Dockerfile:3: RUN: create container: unable to find user nosuchuser/],
      [`FROM ${s.registry.host}/b/nosuch:v1\n`, /^Dockerfile:1: FROM: .*b\/nosuch:v1.*(not found|unknown)/i],
      [`FROM --platform=linux/s390x ${s.ref}\n`, /^Dockerfile:1: FROM: --platform=linux\/s390x is not this machine's platform/],
    ];
    for (const [df, re] of cases) {
      const dir = await context(df, { 'secret.txt': 'x', '.dockerignore': 'secret.txt\n', 'a.txt': 'a', 'b.txt': 'b' });
      const r = await cli(['build', dir]);
      assert.equal(r.code, 1, `${df}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr.replace(/^Error: /, '').trim(), re, df);
    }
    // A FIFO named as the Dockerfile is refused at once, never waited on.
    const fifo = join(await makeTempDir('berth-build-fifo-'), 'Dockerfile');
    await run('mkfifo', [fifo]);
    await expectAgentError(
      build({ contextDir: ctx, dockerfile: fifo }),
      ErrorCode.InvalidArgument,
      /the Dockerfile .* is not a regular file/,
    );
    const e = await expectAgentError(
      build({ contextDir: ctx, dockerfileContent: `FROM ${s.ref}\nRUN echo ok\nCOPY onlyone\n` }),
      ErrorCode.InvalidArgument,
    );
    assert.equal(e.data.line, 3);
    assert.equal(e.data.operation, 'build');
    assert.deepEqual(
      await s.conn.sendRequest(ListContainersRequest.type, { all: true }),
      [],
      'the syntax error stopped the build before its RUN',
    );
  });

  it("ADD extracts a local tar archive with the project's tar reader; --target stops at a stage", async () => {
    const dir = await context(
      `FROM ${s.ref} AS first
ADD bundle.tar.gz /opt/bundle/
ADD plain.txt /opt/plain.txt
RUN cat /opt/bundle/top.txt /opt/bundle/sub/inner.txt /opt/plain.txt
SHELL ["/bin/sh", "-ec"]
RUN ["echo", "exec form"]
RUN echo "shell $0" > /opt/shell.txt
VOLUME /data /cache
VOLUME ["/json"]
STOPSIGNAL SIGQUIT

FROM first AS second
RUN echo second > /second
`,
      { 'plain.txt': 'plain\n', 'src/top.txt': 'top\n', 'src/sub/inner.txt': 'inner\n' },
    );
    await run('tar', ['-C', join(dir, 'src'), '-czf', join(dir, 'bundle.tar.gz'), '.']);
    const { result, events } = await build({ contextDir: dir, target: 'first', tags: ['add:1'] });
    assert.equal(result.steps.length, 10, 'the second stage was not built');
    const output = events
      .filter((e) => e.type === 'output')
      .map((e) => Buffer.from((e as { data: string }).data, 'base64').toString())
      .join('');
    assert.equal(output, 'top\ninner\nplain\nexec form\n');
    const out = ok(
      await cli(['run', '--rm', 'add:1', 'sh', '-c', 'ls /opt/bundle; cat /opt/shell.txt; test -e /second || echo no-second']),
      'run',
    );
    assert.equal(out.stdout, 'sub\ntop.txt\nshell /bin/sh\nno-second\n');
    const ins = (await s.conn.sendRequest(InspectImageRequest.type, { reference: 'add:1' })) as ImageInspect;
    assert.deepEqual(Object.keys(ins.Config.Volumes).sort(), ['/cache', '/data', '/json']);
    assert.equal(ins.Config.StopSignal, 'SIGQUIT');
    // An archive entry that leaves its destination is refused, naming the entry.
    const hostile = await context(`FROM ${s.ref}\nADD evil.tar /opt/\n`);
    const staging = await makeTempDir('berth-build-evil-');
    writeTree(staging, { 'x/escape.txt': 'escaped\n' });
    await run('tar', ['-C', join(staging, 'x'), '-cf', join(hostile, 'evil.tar'), '--transform', 's|^|../../|', 'escape.txt']);
    await expectAgentError(
      build({ contextDir: hostile }),
      ErrorCode.InvalidArgument,
      /^Dockerfile:2: ADD: evil.tar: the archive entry "\.\.\/\.\.\/escape.txt" leaves the destination$/,
    );
  });

  it('berth save of a built image is accepted by podman load', async () => {
    const archive = join(await makeTempDir('berth-build-save-'), 'demo.tar');
    ok(await cli(['save', '-o', archive, 'demo:1']), 'save');
    const ins = (await s.conn.sendRequest(InspectImageRequest.type, { reference: 'demo:1' })) as ImageInspect;
    const dir = await makeTempDir('berth-build-podman-');
    assert.match((await podman(dir, ['load', '-i', archive])).toString(), /Loaded image/);
    const inspected = JSON.parse((await podman(dir, ['image', 'inspect', ins.Id.slice(7)])).toString()) as {
      Id: string;
      RootFS: { Layers: string[] };
      Config: { WorkingDir: string; User: string; Cmd: string[]; Entrypoint: string[] };
      History: { created_by?: string }[];
    }[];
    assert.equal(`sha256:${inspected[0].Id}`, ins.Id);
    assert.deepEqual(inspected[0].RootFS.Layers, ins.RootFS.Layers);
    assert.equal(inspected[0].Config.WorkingDir, '/opt/app');
    assert.equal(inspected[0].Config.User, 'app');
    assert.deepEqual(inspected[0].Config.Entrypoint, ['/bin/sh', '-c']);
    assert.ok(inspected[0].History.some((h) => h.created_by === 'COPY --from=builder /src/built.txt ./built.txt'));
  });

  it('cancelling a build stops its RUN and removes the step container', async () => {
    const dir = await context(`FROM ${s.ref}\nRUN echo started; sleep 600\n`);
    const cts = new CancellationTokenSource();
    const progressToken = 'cancel-me';
    let container = '';
    const sub = s.conn.onNotification(BuildProgressNotification.type, (n) => {
      if (n.token !== progressToken) return;
      if (n.event.type === 'running') s.track((container = n.event.container));
      if (n.event.type === 'output') cts.cancel();
    });
    try {
      await expectAgentError(
        s.conn.sendRequest(BuildImageRequest.type, { contextDir: dir, progressToken }, cts.token),
        ErrorCode.Cancelled,
      );
    } finally {
      sub.dispose();
    }
    assert.match(container, /^[0-9a-f]{64}$/);
    assert.deepEqual(await s.conn.sendRequest(ListContainersRequest.type, { all: true }), [], 'the step container is gone');
    assert.deepEqual(cgroupLeft(container), []);
    assert.deepEqual(readdirSync(join(s.agent.root, 'tmp')), [], 'no temp file of the build is left');
  });

  it('the context is read as the caller may: a user the agent serves cannot copy a file it cannot read', async () => {
    const NOBODY = 65534;
    const forUser = await startAgent({ env: { SUDO_UID: String(NOBODY) } });
    chmodSync(join(forUser.socket, '..'), 0o711);
    chmodSync(forUser.socket, 0o666);
    const userEnv = { PATH: process.env.PATH, BERTH_ROOT: forUser.root, BERTH_SOCKET: forUser.socket, BERTH_NO_AUTOSTART: '1' };
    const dir = await context(`FROM scratch\nCOPY readable.txt /r\n`, { 'readable.txt': 'ok\n', 'private.txt': 'root only\n' });
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'Dockerfile'), 0o644);
    chmodSync(join(dir, 'readable.txt'), 0o644);
    chmodSync(join(dir, 'private.txt'), 0o600);
    const asUser = (args: string[]) => berthAs(NOBODY, args, userEnv);
    ok(await asUser(['build', '-q', dir]), 'build of readable files as uid 65534');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY private.txt /p\n');
    const denied = await asUser(['build', dir]);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(
      denied.stderr,
      /^Error: Dockerfile:2: COPY: build: permission denied: uid 65534 may not read .*private.txt of the build context \(the file is not readable for it\)$/m,
    );
    // A directory of the context it cannot list.
    mkdirSync(join(dir, 'closed'), { mode: 0o700 });
    writeFileSync(join(dir, 'closed', 'x'), 'x');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /all/\n');
    assert.match((await asUser(['build', dir])).stderr, /permission denied: uid 65534 may not read .*closed of the build context/);
    // The same builds as root are fine.
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY private.txt /p\n');
    ok(await berth(['build', '-q', dir], userEnv), 'root may read it');
    await forUser.stop();
  });

  it('COPY never follows a symlink out of the context', async () => {
    const outside = await makeTempDir('berth-build-outside-');
    writeFileSync(join(outside, 'secret'), 'outside secret\n');
    const dir = await context(`FROM ${s.ref}\nCOPY dir /d/\nCOPY inside-link /copied-inside\n`, {
      'dir/file': 'in dir\n',
      'real.txt': 'real\n',
    });
    symlinkSync(join(outside, 'secret'), join(dir, 'abs-link'));
    symlinkSync(`../${outside.split('/').pop()}/secret`, join(dir, 'rel-link'));
    symlinkSync('/', join(dir, 'dir', 'to-root'));
    symlinkSync('real.txt', join(dir, 'inside-link'));
    // A symlink named as a source is followed inside the context: outside targets are not there.
    for (const src of ['abs-link', 'rel-link', 'dir/to-root/etc/hostname', `dir/to-root${outside}/secret`]) {
      const r = await build({ contextDir: dir, dockerfileContent: `FROM ${s.ref}\nCOPY ${src} /leak\n` }).then(
        () => 'built',
        (e: Error) => e.message,
      );
      assert.match(r, /no such file or directory in the build context/, `COPY ${src}`);
    }
    // Symlinks inside a copied directory are copied as symlinks; a link inside the context is followed.
    const { result } = await build({ contextDir: dir, tags: ['links:1'] });
    const out = ok(
      await cli([
        'run',
        '--rm',
        result.Id,
        'sh',
        '-c',
        'readlink /d/to-root; cat /d/file /copied-inside; test -L /copied-inside || echo not-a-link',
      ]),
      'run',
    );
    assert.equal(out.stdout, '/\nin dir\nreal\nnot-a-link\n');
  });
});
