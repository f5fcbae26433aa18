/**
 * `--init`: Berth's own init (native/init/berth-init.c) as pid 1, run from a sealed memfd. It
 * starts the command as its child, forwards signals, reaps orphans and exits with the command's
 * status. Real containers through the CLI.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InspectContainerRequest } from '../../protocol';
import { ok } from '../support/expect';
import { containerSuite } from '../support/suite';

describe('--init', () => {
  const s = containerSuite({ repo: 'init/box' });
  const { cli } = s;

  it('pid 1 is the init from a sealed memfd, the command its child; exit codes pass through', async () => {
    const r = await cli([
      'run',
      '--rm',
      '--init',
      s.ref,
      'sh',
      '-c',
      'tr "\\0" " " < /proc/1/cmdline; echo; echo "me $$"; readlink /proc/1/exe; exit 3',
    ]);
    assert.equal(r.code, 3, r.stderr);
    const [cmdline, me, exe] = r.stdout.split('\n');
    assert.match(cmdline, /^berth-init \/bin\/sh sh -c /);
    assert.equal(me, 'me 2');
    assert.match(exe, /^\/memfd:berth-init/, 'run from the memfd, not a host path');
  });

  it('reaps orphans: no zombie is left while the command runs', async () => {
    // The inner shell exits at once; its background sleep is reparented to pid 1 and exits later.
    const r = ok(
      await cli([
        'run',
        '--rm',
        '--init',
        s.ref,
        'sh',
        '-c',
        'sh -c "sleep 0.2 & exit 0"; sleep 1; cat /proc/[0-9]*/stat | cut -d" " -f3 | grep -c Z || true',
      ]),
      'run',
    );
    assert.equal(r.stdout.trim(), '0');
  });

  it("forwards stop's SIGTERM to the command (a bare pid 1 would ignore it and be killed)", async () => {
    const id = ok(await cli(['run', '-d', '--init', s.ref, 'sleep', '600']), 'run -d').stdout.trim();
    s.track(id);
    const info = await s.conn.sendRequest(InspectContainerRequest.type, { container: id });
    assert.equal(info.HostConfig.Init, true);
    ok(await cli(['stop', '-t', '30', id]), 'stop');
    const after = await s.conn.sendRequest(InspectContainerRequest.type, { container: id });
    assert.equal(after.State.ExitCode, 143, 'sleep died of SIGTERM (128+15), not of the SIGKILL after the timeout');
  });

  it('a command that does not exist fails the start as without an init', async () => {
    const r = await cli(['run', '--rm', '--init', s.ref, 'no-such-command']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exec "no-such-command": ENOENT \(no such command in the container\)/);
  });
});

describe('sealed runtime binaries', () => {
  const s = containerSuite({ repo: 'sealed/box' });

  it("exec enters the container from a sealed copy of the helper: the host's berth-helper is out of its processes' reach", async () => {
    const id = ok(await s.cli(['run', '-d', s.ref, 'sleep', '600']), 'run -d').stdout.trim();
    s.track(id);
    // While an exec'd process runs, its parent (the helper, its monitor) runs from a sealed memfd.
    const exec = s.cli(['exec', id, 'sh', '-c', 'echo $$ > /tmp/exec.pid; exec sleep 3']);
    let helperExe = '';
    for (let i = 0; i < 100 && !helperExe; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          if (cmd !== 'sleep\x003\x00' || !readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id)) continue;
          const ppid = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1];
          helperExe = readlinkSync(`/proc/${ppid}/exe`);
        } catch {
          /* gone meanwhile */
        }
      }
    }
    assert.match(helperExe, /^\/memfd:berth-helper/, `the exec's monitor runs from ${helperExe || '(not found)'}`);
    ok(await exec, 'exec');
  });
});
