/**
 * The `berth` CLI as users run it (bin/berth, a real process) against a real agent on its real
 * socket and a real registry on 127.0.0.1: every verb's output shape, exit codes, one-line errors,
 * live events, and starting an agent in the background when none answers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BerthEvent, ImageInspect, ImageSummary, HistoryEntry, VersionResult } from '../../protocol';
import { REPO, berth, startAgent, type CliResult, type TestAgent } from '../support/agent';
import { ok } from '../support/expect';
import { busyboxImage, featureImage, type BuiltImage } from '../support/images';
import { pushImage } from '../support/push';
import { freePort, startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, registerCleanup, requireTools, runCleanups, stopChild, trackChild } from '../support/tmp';

const ANSI = /\x1b/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A failure: exit `code`, and exactly one line on stderr (returned). */
function oneLineError(r: CliResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got:\n${r.stderr}`);
  assert.ok(r.stderr.endsWith('\n'), `${what}: stderr ends with a newline`);
  return lines[0];
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

describe('berth CLI against a real agent and registry', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  /** The agent's environment, with autostart off: a dead agent must fail a test, not be replaced. */
  let env: NodeJS.ProcessEnv;
  let box: BuiltImage;
  let feature: BuiltImage;
  let boxRef: string;
  let featureRef: string;

  before(async () => {
    requireTools();
    registry = await startRegistry();
    box = await busyboxImage();
    feature = await featureImage();
    await pushImage(registry, 'cli/box', 'v1', box);
    await pushImage(registry, 'cli/feature', 'v1', feature);
    boxRef = `${registry.host}/cli/box:v1`;
    featureRef = `${registry.host}/cli/feature:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
  });
  after(runCleanups);

  it('pull downloads, then says the image is up to date; plain output when not on a terminal', async () => {
    const first = ok(await berth(['pull', boxRef], env), 'first pull');
    const out = lines(first.stdout);
    assert.equal(out.at(-1), boxRef, 'the full reference is the last line');
    assert.ok(out.includes(`v1: Pulling from cli/box`), first.stdout);
    assert.ok(out.includes(`Digest: ${box.manifestDigest}`), first.stdout);
    assert.ok(out.includes(`Status: Downloaded newer image for ${boxRef}`), first.stdout);
    // stdout and stderr are pipes here: no cursor movement, no colours, just lines.
    assert.doesNotMatch(first.stdout, ANSI);
    assert.doesNotMatch(first.stderr, ANSI);
    assert.match(first.stderr, new RegExp(box.layers[0].digest.slice(7, 19)), 'per-layer progress lines on stderr');

    const second = ok(await berth(['pull', boxRef], env), 'second pull');
    const out2 = lines(second.stdout);
    assert.equal(out2.at(-1), boxRef);
    assert.ok(out2.includes(`Digest: ${box.manifestDigest}`), second.stdout);
    assert.ok(out2.includes(`Status: Image is up to date for ${boxRef}`), second.stdout);
    assert.doesNotMatch(second.stdout + second.stderr, ANSI);

    const quiet = ok(await berth(['pull', '-q', boxRef], env), 'pull -q');
    assert.equal(quiet.stdout, `${boxRef}\n`);
  });

  it('images: a table, --format json (ImageSummary), -q', async () => {
    const table = ok(await berth(['images'], env), 'images');
    const rows = lines(table.stdout);
    assert.match(rows[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    const row = rows.find((r) => r.startsWith(`${registry.host}/cli/box `));
    assert.ok(row, `a row for the pulled image:\n${table.stdout}`);
    assert.match(row, new RegExp(`^${registry.host}/cli/box\\s+v1\\s+${box.configDigest.slice(7, 19)}\\s+\\S.*\\s+\\d+(\\.\\d+)?[kMG]?B$`));

    const json = ok(await berth(['images', '--format', 'json'], env), 'images --format json');
    const list = JSON.parse(json.stdout) as ImageSummary[];
    assert.ok(Array.isArray(list));
    const img = list.find((i) => i.Id === box.configDigest);
    assert.ok(img, json.stdout);
    assert.deepEqual(Object.keys(img).sort(), ['Created', 'Id', 'Labels', 'Layers', 'RepoDigests', 'RepoTags', 'Size']);
    assert.deepEqual(img.RepoTags, [boxRef]);
    assert.deepEqual(img.RepoDigests, [`${registry.host}/cli/box@${box.manifestDigest}`]);
    assert.equal(img.Layers, 1);
    assert.equal(typeof img.Created, 'number');
    assert.ok(img.Size > 500_000);
    assert.deepEqual(img.Labels, { 'org.berth.test': 'busybox' });

    const q = ok(await berth(['images', '-q'], env), 'images -q');
    assert.deepEqual(
      lines(q.stdout),
      list.map((i) => i.Id.slice(7, 19)).filter((v, i, a) => a.indexOf(v) === i),
    );
    const tpl = ok(await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.Id}}'], env), 'images --format template');
    assert.ok(lines(tpl.stdout).includes(`${registry.host}/cli/box:v1 ${box.configDigest}`), tpl.stdout);
  });

  it('inspect prints a JSON array; --format picks fields', async () => {
    ok(await berth(['pull', '-q', featureRef], env), 'pull feature');
    const r = ok(await berth(['inspect', featureRef, boxRef], env), 'inspect');
    const arr = JSON.parse(r.stdout) as ImageInspect[];
    assert.equal(arr.length, 2);
    assert.equal(arr[0].Id, feature.configDigest);
    assert.equal(arr[1].Id, box.configDigest);
    assert.deepEqual(
      arr[0].RootFS.Layers,
      feature.layers.map((l) => l.diffId),
    );
    assert.deepEqual(arr[0].Config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FEATURE=1']);
    assert.equal(r.stderr, '');
    const wd = ok(await berth(['inspect', '--format', '{{.Config.WorkingDir}}', featureRef], env), 'inspect --format');
    assert.equal(wd.stdout, '/srv\n');
    const byId = ok(
      await berth(['inspect', '--format', '{{json .RepoTags}}', feature.configDigest.slice(7, 19)], env),
      'inspect by short ID',
    );
    assert.deepEqual(JSON.parse(byId.stdout), [featureRef]);
  });

  it('history lists the build steps, newest first', async () => {
    const r = ok(await berth(['history', featureRef], env), 'history');
    const rows = lines(r.stdout);
    assert.match(rows[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    const config = JSON.parse(feature.config.toString()) as { history: unknown[] };
    assert.equal(rows.length - 1, config.history.length);
    assert.ok(rows[1].startsWith(feature.configDigest.slice(7, 19)), rows[1]);
    assert.match(rows[1], /CMD \["sh"\]/);
    assert.ok(
      rows.slice(2).every((l) => l.startsWith('<missing>')),
      r.stdout,
    );
    const json = JSON.parse(ok(await berth(['history', '--format', 'json', featureRef], env), 'history json').stdout) as HistoryEntry[];
    assert.equal(json.length, config.history.length);
    assert.equal(json[0].Id, feature.configDigest);
    assert.deepEqual(
      json.map((h) => h.EmptyLayer),
      [true, true, false, false, false],
    );
    assert.ok(json.filter((h) => !h.EmptyLayer).every((h) => h.Size >= 0));
    assert.ok(json.at(-1)!.Size > 500_000, 'the busybox layer is the oldest step');
  });

  it('tag adds a name; rmi untags, then deletes', async () => {
    const t = ok(await berth(['tag', boxRef, 'mybox:1'], env), 'tag');
    assert.equal(t.stdout, '');
    const ins = JSON.parse(ok(await berth(['inspect', 'mybox:1'], env), 'inspect tag').stdout) as ImageInspect[];
    assert.equal(ins[0].Id, box.configDigest);
    assert.deepEqual(ins[0].RepoTags, [boxRef, 'docker.io/library/mybox:1'].sort());
    const listed = ok(await berth(['images'], env), 'images');
    assert.match(listed.stdout, /^mybox\s+1\s+/m);

    const un = ok(await berth(['rmi', 'mybox:1'], env), 'rmi tag');
    assert.equal(un.stdout, 'Untagged: mybox:1\n', 'another tag still points at it: only the tag goes');
    ok(await berth(['tag', boxRef, 'mybox:2'], env), 'tag again');
    const del = ok(await berth(['rmi', boxRef, 'mybox:2'], env), 'rmi both');
    const out = lines(del.stdout);
    assert.deepEqual(out.slice(0, 2), [`Untagged: ${boxRef}`, 'Untagged: mybox:2']);
    assert.ok(out.includes(`Untagged: ${registry.host}/cli/box@${box.manifestDigest}`), del.stdout);
    assert.ok(out.includes(`Deleted: ${box.configDigest}`), del.stdout);
    assert.ok(
      out.every((l) => /^(Untagged|Deleted): \S+$/.test(l)),
      del.stdout,
    );
    // The busybox layer is shared with the feature image: it stays.
    const inspect = JSON.parse(ok(await berth(['inspect', featureRef], env), 'inspect feature').stdout) as ImageInspect[];
    assert.ok(existsSync(inspect[0].Berth.Layers[0].Path));
    const gone = await berth(['inspect', boxRef], env);
    assert.equal(oneLineError(gone, 1, 'inspect removed'), `Error: No such object: ${boxRef}`);
  });

  it('version --format json names the agent we started', async () => {
    const r = ok(await berth(['version', '--format', 'json'], env), 'version');
    const v = JSON.parse(r.stdout) as { Client: { Version: string; ApiVersion: number }; Agent: VersionResult };
    assert.equal(v.Agent.Pid, agent.child.pid);
    assert.equal(v.Agent.Root, agent.root);
    assert.equal(v.Agent.Socket, agent.socket);
    assert.equal(v.Agent.ApiVersion, v.Client.ApiVersion);
    assert.equal(v.Agent.Version, v.Client.Version);
    const plain = ok(await berth(['version'], env), 'version');
    assert.match(plain.stdout, new RegExp(`^ Pid:\\s+${agent.child.pid}$`, 'm'));
  });

  it('events --format json prints live events until SIGINT', async () => {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'berth'), 'events', '--format', 'json'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    const unregister = registerCleanup(() => stopChild(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const events = () => lines(stdout).map((l) => JSON.parse(l) as BerthEvent);

    // The subscription is live once a probe tag shows up (bounded: 10 s).
    for (let i = 0; !events().some((e) => e.Action === 'tag'); i++) {
      assert.ok(i < 50, `berth events printed nothing within 10 s; stderr: ${stderr}`);
      assert.equal(child.exitCode, null, `berth events exited: ${stderr}`);
      ok(await berth(['tag', featureRef, `probe:${i}`], env), 'probe tag');
      await sleep(200);
    }
    const before = events().length;
    ok(await berth(['pull', '-q', boxRef], env), 'pull');
    ok(await berth(['tag', boxRef, 'evbox:1'], env), 'tag');
    for (let i = 0; events().length < before + 2; i++) {
      assert.ok(i < 50, `expected 2 more events, got: ${stdout}`);
      await sleep(100);
    }
    const got = events().slice(before);
    const pull = got.find((e) => e.Action === 'pull');
    assert.ok(pull, stdout);
    assert.equal(pull.Type, 'image');
    assert.equal(pull.Actor.ID, box.configDigest);
    assert.equal(pull.Actor.Attributes.name, `${registry.host}/cli/box:v1`);
    assert.ok(Math.abs(pull.time - Date.now() / 1000) < 60);
    assert.equal(Math.floor(pull.timeNano / 1e9), pull.time);
    const tag = got.find((e) => e.Action === 'tag' && e.Actor.Attributes.name === 'evbox:1');
    assert.ok(tag, stdout);
    assert.equal(tag.Actor.ID, box.configDigest);

    assert.ok(child.pid);
    process.kill(child.pid, 'SIGINT');
    const timeout = sleep(5000).then(() => 'timeout' as const);
    const how = await Promise.race([exited, timeout]);
    assert.notEqual(how, 'timeout', 'berth events did not stop within 5 s of SIGINT');
    unregister();
    assert.deepEqual(how, { code: 130, signal: null }, `stderr: ${stderr}`);
    assert.equal(stderr, '');
  });

  it('errors are one line on stderr with exit 1; usage errors exit 2', async () => {
    const nosuch = await berth(['inspect', 'nosuch'], env);
    assert.match(oneLineError(nosuch, 1, 'inspect nosuch'), /^Error: .*nosuch/);
    assert.equal(nosuch.stdout, '[]\n');

    const bad = await berth(['pull', 'Bad:Ref:x'], env);
    assert.match(oneLineError(bad, 1, 'pull Bad:Ref:x'), /^Error: .*Bad:Ref:x/);
    assert.equal(bad.stdout, '', 'a refused pull prints no "Pulling from" header');

    const tagMissing = await berth(['tag', 'nosuch', 'x:1'], env);
    assert.match(oneLineError(tagMissing, 1, 'tag nosuch'), /^Error: .*nosuch/);
    const rmiMissing = await berth(['rmi', 'nosuch'], env);
    assert.match(oneLineError(rmiMissing, 1, 'rmi nosuch'), /^Error: .*nosuch/);

    const verb = await berth(['frobnicate'], env);
    assert.equal(verb.code, 2);
    assert.match(verb.stderr, /'frobnicate' is not a berth command/);
    const flag = await berth(['images', '--nope'], env);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown flag: --nope/);
    const arity = await berth(['tag', 'only-one'], env);
    assert.equal(arity.code, 2);

    // Nothing listens on this port: the registry is unreachable, said in one line.
    const port = await freePort();
    const t0 = Date.now();
    const closed = await berth(['pull', `127.0.0.1:${port}/nothing/here:v1`], env, 60_000);
    const line = oneLineError(closed, 1, 'pull from a closed port');
    assert.match(line, new RegExp(`^Error: .*127\\.0\\.0\\.1:${port}`));
    assert.match(line, /ECONNREFUSED|refused|unreachable/i);
    assert.equal(closed.stdout, '');
    assert.ok(Date.now() - t0 < 30_000, `a refused connection should fail fast, took ${Date.now() - t0} ms`);
  });

  it('with BERTH_NO_AUTOSTART and no agent, commands fail in one line naming the socket', async () => {
    const root = await makeTempDir('berth-noagent-');
    const socket = join(root, 'agent.sock');
    const noAgent = { ...process.env, BERTH_ROOT: root, BERTH_SOCKET: socket, BERTH_NO_AUTOSTART: '1' };
    const r = await berth(['images'], noAgent);
    const line = oneLineError(r, 1, 'images with no agent');
    assert.ok(line.includes(socket), line);
    assert.match(line, /ENOENT/);
    assert.ok(!existsSync(socket), 'no agent was started');
    assert.ok(!existsSync(join(root, 'agent.log')), 'no agent was started');
    const v = await berth(['version', '--format', 'json'], noAgent);
    assert.equal(v.code, 1);
    assert.equal((JSON.parse(v.stdout) as { Agent: unknown }).Agent, null);
  });
});

describe('berth CLI starts an agent when none answers', () => {
  before(() => requireTools(['tar']));
  after(runCleanups);

  it('as root, `berth images` starts a background agent that logs to <root>/agent.log', async () => {
    const root = await makeTempDir('berth-autostart-');
    const socket = join(root, 'run', 'agent.sock');
    const env: NodeJS.ProcessEnv = { ...process.env, BERTH_ROOT: root, BERTH_SOCKET: socket };
    delete env.BERTH_NO_AUTOSTART;
    let pid: number | undefined;
    registerCleanup(async () => {
      if (pid === undefined) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return; // already gone
      }
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    });

    const r = await berth(['images'], env, 30_000);
    // Whatever happened, find the agent first so that cleanup can stop it.
    const v = await berth(['version', '--format', 'json'], { ...env, BERTH_NO_AUTOSTART: '1' });
    const agentInfo = (JSON.parse(v.stdout || '{}') as { Agent?: VersionResult | null }).Agent;
    pid = agentInfo?.Pid;
    ok(r, 'images with autostart');
    assert.match(lines(r.stdout)[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.equal(lines(r.stdout).length, 1, 'a fresh store has no images');
    assert.ok(agentInfo, `version found no agent: ${v.stderr}`);
    assert.equal(agentInfo.Root, root);
    assert.equal(agentInfo.Socket, socket);
    assert.ok(pid && alive(pid), 'the agent runs on after the CLI exited');
    const log = join(root, 'agent.log');
    assert.ok(existsSync(log), 'agent.log is in the root');
    assert.match(readFileSync(log, 'utf8'), new RegExp(`listening on ${socket.replace(/[.]/g, '\\.')}`));
    assert.equal(statSync(socket).mode & 0o777, 0o600);

    // A second command uses the running agent; no second one is started.
    ok(await berth(['images', '-q'], env), 'images again');
    const v2 = JSON.parse(ok(await berth(['version', '--format', 'json'], env), 'version').stdout) as { Agent: VersionResult };
    assert.equal(v2.Agent.Pid, pid);

    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    assert.ok(!alive(pid), `the agent (pid ${pid}) is gone after SIGTERM`);
    assert.ok(!existsSync(socket), 'the agent removed its socket on the way out');
  });
});

/** True while `pid` runs (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
