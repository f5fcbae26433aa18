/**
 * The devcontainer.json reader (agent/workspace/jsonc.ts, devcontainer.ts): JSON with comments
 * and trailing commas, parse errors with line and column, the subset's checks with the key named,
 * unknown keys listed once, variables, runArgs and mounts mapped onto create options, hostile
 * input (deep nesting, huge files, prototype keys) refused with a clear error.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode } from '../../protocol';
import { BerthError } from '../../agent/errors';
import { JsoncError, MAX_DEPTH, parseJsonc } from '../../agent/workspace/jsonc';
import {
  configHash,
  findConfig,
  MAX_CONFIG_BYTES,
  parseDevcontainer,
  readConfigText,
  resolveRemoteEnv,
  type DevcontainerConfig,
} from '../../agent/workspace/devcontainer';
import { existsSync } from 'node:fs';
import { makeTempDir, runCleanups } from '../support/tmp';

const FOLDER = '/home/dev/My Project';
const FILE = `${FOLDER}/.devcontainer/devcontainer.json`;
const parse = (text: string, localEnv?: Record<string, string>): DevcontainerConfig =>
  parseDevcontainer(text, FILE, FOLDER, 'workspace up', { localEnv });

/** The error `fn` throws, checked to be an InvalidArgument BerthError naming the file. */
function configErr(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthError, `a BerthError, got ${String(e)}`);
    assert.equal(e.code, ErrorCode.InvalidArgument, e.message);
    assert.equal(e.data.path, FILE);
    return e;
  }
  assert.fail('no error was thrown');
}

after(runCleanups);

describe('JSONC parser', () => {
  it('reads comments and trailing commas as the spec allows, and plain JSON as JSON.parse does', () => {
    const text = `// a leading comment
{
  /* block
     comment */ "a": 1, // after a value
  "b": [1, 2, 3,],
  "c": { "d": "x // not a comment", "e": "/* nor this */", },
  "f": -0.5e3, "g": true, "h": false, "i": null,
}
// trailing comment`;
    assert.deepEqual(parseJsonc(text), {
      a: 1,
      b: [1, 2, 3],
      c: { d: 'x // not a comment', e: '/* nor this */' },
      f: -500,
      g: true,
      h: false,
      i: null,
    });
    const plain = '{"s":"\\u00e9\\n\\t\\"\\\\\\/","n":[0,1.5,-2e-2],"o":{}}';
    assert.deepEqual(parseJsonc(plain), JSON.parse(plain));
  });

  it('reports errors with the line and column of the offending character', () => {
    const cases: [string, number, number, RegExp][] = [
      ['{\n  "a": 1\n  "b": 2\n}', 3, 3, /expected ',' or '}' but found character '"'/],
      ['{\n  "a": [1, 2\n}', 3, 1, /expected ',' or ']' but found character '}'/],
      ['{"a": tru}', 1, 7, /where a value was expected/],
      ['{"a": 01}', 1, 8, /invalid number/],
      ['{"a": "x\ny"}', 1, 9, /U\+000A in a string/],
      ['{"a": "\\x"}', 1, 8, /invalid escape/],
      ['{a: 1}', 1, 2, /property name in double quotes/],
      ['{"a": 1} x', 1, 10, /after the end of the value/],
      ['{"a": 1', 1, 8, /end of file/],
      ['/* never closed', 1, 1, /unterminated \/\* comment/],
      ['', 1, 1, /end of file/],
      ['{"a": [1,,2]}', 1, 10, /where a value was expected/],
      ['{"a": "open', 1, 7, /unterminated string/],
      ['{"a": NaN}', 1, 7, /where a value was expected/],
    ];
    for (const [text, line, column, reason] of cases) {
      assert.throws(
        () => parseJsonc(text),
        (e: unknown) =>
          e instanceof JsoncError &&
          e.line === line &&
          e.column === column &&
          reason.test(e.message) &&
          e.message.includes(`at line ${line}, column ${column}`),
        `${JSON.stringify(text)} -> line ${line}, column ${column}, ${reason}`,
      );
    }
  });

  it('refuses nesting deeper than its limit without recursing into it', () => {
    const ok = '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH);
    assert.ok(Array.isArray(parseJsonc(ok)));
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.throws(
      () => parseJsonc(deep),
      (e: unknown) => e instanceof JsoncError && /nesting deeper than 64 levels/.test(e.message) && e.column === MAX_DEPTH + 1,
    );
  });

  it('words the error from where it stands, whatever token jsonc-parser saw there', () => {
    const cases: [string, number, number, RegExp][] = [
      ['{"a": null- "b": 1}', 1, 11, /expected ',' or '}' but found character '-'/],
      ['true.', 1, 5, /unexpected character '\.' after the end of the value/],
      ['"s" "t"', 1, 5, /unexpected character '"' after the end of the value/],
      ['[1 2.5e\\3]', 1, 4, /expected ',' or ']' but found character '2'/],
      ['[1,[', 1, 5, /unexpected end of file where a value was expected/],
      ['["x"', 1, 5, /expected ',' or ']' but found end of file/],
      ['{"a" 1}', 1, 6, /expected ':' after property "a" but found character '1'/],
      ['{"a":1,,}', 1, 8, /expected a property name in double quotes but found character ','/],
      ['[-01]', 1, 4, /invalid number/],
      ['1e999', 1, 1, /number out of range/],
      ['["\\u12"]', 1, 3, /invalid \\u escape/],
    ];
    for (const [text, line, column, reason] of cases) {
      assert.throws(
        () => parseJsonc(text),
        (e: unknown) => e instanceof JsoncError && e.line === line && e.column === column && reason.test(e.message),
        `${JSON.stringify(text)} -> line ${line}, column ${column}, ${reason}`,
      );
    }
  });

  it('reads a byte-order mark as whitespace and keeps one inside a string', () => {
    assert.deepEqual(parseJsonc('\ufeff{"a": "\ufeffx", "\ufeffk": 1}'), { a: '\ufeffx', '\ufeffk': 1 });
  });

  it('keeps "__proto__" an ordinary key: no prototype is changed', () => {
    const v = parseJsonc('{"__proto__": {"polluted": true}, "constructor": 1}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.keys(v), ['__proto__', 'constructor']);
    assert.equal((v as { polluted?: boolean }).polluted, undefined);
  });
});

describe('devcontainer.json', () => {
  it('reads the subset with defaults: the folder at /workspaces/<basename>, the image, env, users, ports', () => {
    const c = parse(`{
      // The dev container
      "name": "demo",
      "image": "127.0.0.1:5000/dev/box:1",
      "containerEnv": { "MODE": "dev", "FOLDER": "\${containerWorkspaceFolder}" },
      "remoteEnv": { "PATH": "\${containerEnv:PATH}:/extra", "GONE": null },
      "containerUser": "root",
      "remoteUser": "1000",
      "forwardPorts": [8080, "3000", "localhost:9000", 8080],
      "capAdd": ["SYS_PTRACE"],
      "privileged": false,
      "init": true,
    }`);
    assert.equal(c.image, '127.0.0.1:5000/dev/box:1');
    assert.equal(c.name, 'demo');
    assert.equal(c.workspaceFolder, '/workspaces/My Project');
    assert.equal(c.workspaceMount, `${FOLDER}:/workspaces/My Project`);
    assert.deepEqual(c.containerEnv, { MODE: 'dev', FOLDER: '/workspaces/My Project' });
    assert.deepEqual(c.remoteEnv, { PATH: '${containerEnv:PATH}:/extra', GONE: null });
    assert.equal(c.containerUser, 'root');
    assert.equal(c.remoteUser, '1000');
    assert.deepEqual(c.forwardPorts, [8080, 3000, 9000]);
    assert.deepEqual(c.capAdd, ['SYS_PTRACE']);
    assert.equal(c.init, true);
    assert.equal(c.privileged, false);
    assert.equal(c.overrideCommand, true);
    assert.deepEqual(c.ignored, []);
    assert.deepEqual(resolveRemoteEnv(c.remoteEnv, ['PATH=/usr/bin:/bin', 'X=1']), ['PATH=/usr/bin:/bin:/extra']);
  });

  it('lists unknown keys once as ignored, never failing on them', () => {
    const c = parse(
      '{"image": "box", "features": {"ghcr.io/x/y:1": {}}, "customizations": {"vscode": {}}, "features": {}, "hostRequirements": {"cpus": 2}}',
    );
    assert.deepEqual(c.ignored, ['features', 'customizations', 'hostRequirements']);
  });

  it('takes the three lifecycle command forms: string (sh -c), array (exec), object (parallel parts)', () => {
    const c = parse(`{
      "image": "box",
      "onCreateCommand": "echo created > \${containerWorkspaceFolder}/x",
      "postCreateCommand": ["touch", "/tmp/a b"],
      "postStartCommand": { "server": "httpd -p 8080", "watch": ["sh", "-c", "true"] },
    }`);
    assert.deepEqual(c.lifecycle.onCreateCommand, {
      parts: [{ name: '', argv: ['/bin/sh', '-c', 'echo created > /workspaces/My Project/x'] }],
    });
    assert.deepEqual(c.lifecycle.postCreateCommand, { parts: [{ name: '', argv: ['touch', '/tmp/a b'] }] });
    assert.deepEqual(c.lifecycle.postStartCommand, {
      parts: [
        { name: 'server', argv: ['/bin/sh', '-c', 'httpd -p 8080'] },
        { name: 'watch', argv: ['sh', '-c', 'true'] },
      ],
    });
    assert.deepEqual(parse('{"image": "box", "postCreateCommand": "  "}').lifecycle, {}, 'an empty command runs nothing');
    const e = configErr(() => parse('{"image": "box", "postStartCommand": {"a": 1}}'));
    assert.match(e.message, /"postStartCommand\.a" must be a string, an array of strings or an object of them, got 1/);
  });

  it('substitutes the spec variables, ${localEnv:NAME[:default]} from the client, and keeps unknown ones', () => {
    const c = parse(
      `{"image": "\${localEnv:REG:127.0.0.1:5000}/box", "workspaceFolder": "/src/\${localWorkspaceFolderBasename}",
        "containerEnv": {"HOME_DIR": "\${localEnv:HOME}", "NONE": "\${localEnv:UNSET}", "ODD": "\${devcontainerId}", "B": "\${containerWorkspaceFolderBasename}"},
        "mounts": ["source=\${localWorkspaceFolder}/cache,target=/cache,type=bind"]}`,
      { HOME: '/home/dev' },
    );
    assert.equal(c.image, '127.0.0.1:5000/box');
    assert.equal(c.workspaceFolder, '/src/My Project');
    assert.deepEqual(c.containerEnv, { HOME_DIR: '/home/dev', NONE: '', ODD: '${devcontainerId}', B: 'My Project' });
    assert.deepEqual(c.mounts, [`${FOLDER}/cache:/cache`]);
  });

  it('maps workspaceMount and mounts (string and object forms) onto binds, refusing other types', () => {
    const c = parse(`{"image": "box", "workspaceFolder": "/w",
      "workspaceMount": "source=\${localWorkspaceFolder},target=/w,type=bind,consistency=cached",
      "mounts": ["source=cache-vol,target=/cache,type=volume", {"source": "/etc/hosts", "target": "/h", "type": "bind", "readonly": true}, "target=/anon,type=volume"]}`);
    assert.equal(c.workspaceMount, `${FOLDER}:/w`);
    assert.deepEqual(c.mounts, ['cache-vol:/cache', '/etc/hosts:/h:ro', '/anon']);
    assert.match(
      configErr(() => parse('{"image": "box", "mounts": ["source=x,target=/t,type=tmpfs"]}')).message,
      /"mounts\[0\]": mount type "tmpfs" is not supported by Berth/,
    );
    assert.match(
      configErr(() => parse('{"image": "box", "mounts": ["source=rel/dir,target=/t,type=bind"]}')).message,
      /must be an absolute host path/,
    );
    assert.match(configErr(() => parse('{"image": "box", "mounts": ["source=/x,target=/a/../b"]}')).message, /without "\.\." or ":"/);
    assert.match(
      configErr(() => parse('{"image": "box", "mounts": ["source=/x,target=/t,propagation=shared"]}')).message,
      /mount option "propagation" is not supported/,
    );
    assert.match(
      configErr(() => parse('{"image": "box", "workspaceMount": "source=/x,target=/w"}')).message,
      /"workspaceMount" needs "workspaceFolder" too/,
    );
  });

  it('maps the supported runArgs onto create options and refuses the rest by name', () => {
    const c = parse(`{"image": "box", "runArgs": ["--cap-add=NET_ADMIN", "--cap-drop", "MKNOD", "--init", "-e", "A=1", "--env=B=2",
      "-p", "8000:80", "-v", "/data:/data:ro", "--memory=512m", "--cpus", "1.5", "--pids-limit=100", "--network", "host",
      "-u", "1000:1000", "--hostname=dev", "-l", "team=x", "--name", "my-dev", "--privileged"]}`);
    assert.deepEqual(c.run, {
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      init: true,
      env: ['A=1', 'B=2'],
      ports: ['8000:80'],
      binds: ['/data:/data:ro'],
      memory: 512 * 1024 * 1024,
      nanoCpus: 1_500_000_000,
      pidsLimit: 100,
      networkMode: 'host',
      user: '1000:1000',
      hostname: 'dev',
      labels: { team: 'x' },
      name: 'my-dev',
      privileged: true,
    });
    assert.match(
      configErr(() => parse('{"image": "box", "runArgs": ["--gpus", "all"]}')).message,
      /"runArgs\[0\]": "--gpus" is not supported by Berth \(it supports --name, --cap-add/,
    );
    assert.match(
      configErr(() => parse('{"image": "box", "runArgs": ["--security-opt=seccomp=unconfined"]}')).message,
      /"--security-opt=seccomp=unconfined" is not supported/,
    );
    assert.match(configErr(() => parse('{"image": "box", "runArgs": ["--memory", "lots"]}')).message, /--memory "lots" is not a size/);
    assert.match(configErr(() => parse('{"image": "box", "runArgs": ["--cap-add"]}')).message, /--cap-add needs a value/);
    assert.match(configErr(() => parse('{"image": "box", "runArgs": ["bash"]}')).message, /not a flag/);
  });

  it('resolves a build against the devcontainer.json folder', () => {
    const c = parse('{"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"V": "1"}, "target": "dev", "cacheFrom": "x"}}');
    assert.deepEqual(c.build, { dockerfile: `${FOLDER}/.devcontainer/Dockerfile`, context: FOLDER, args: { V: '1' }, target: 'dev' });
    assert.equal(c.image, undefined);
    assert.deepEqual(c.ignored, ['build.cacheFrom']);
    assert.match(configErr(() => parse('{"build": {"context": "."}}')).message, /"build\.dockerfile" is required/);
    assert.match(
      configErr(() => parse('{"build": {"dockerfile": "D", "args": {"V": 1}}}')).message,
      /"build\.args\.V" must be a string, got 1/,
    );
  });

  it('names the key and what was wrong for values of the wrong type', () => {
    const cases: [string, RegExp][] = [
      ['[]', /the top level must be an object, got an array/],
      ['{}', /needs "image" or "build"/],
      ['{"image": "a", "build": {"dockerfile": "D"}}', /give "image" or "build", not both/],
      ['{"dockerComposeFile": "c.yml"}', /Docker Compose configurations \("dockerComposeFile"\) are not supported/],
      ['{"image": 5}', /"image" must be a string, got 5/],
      ['{"image": "box", "forwardPorts": 80}', /"forwardPorts" must be an array, got 80/],
      ['{"image": "box", "forwardPorts": [80, true]}', /"forwardPorts\[1\]" must be a port number, got true/],
      ['{"image": "box", "forwardPorts": [70000]}', /"forwardPorts\[0\]" must be a port from 1 to 65535, got 70000/],
      [
        '{"image": "box", "forwardPorts": ["db:5432"]}',
        /"forwardPorts\[0\]" is "db:5432": Berth forwards ports of the workspace container only/,
      ],
      ['{"image": "box", "containerEnv": {"A": 1}}', /"containerEnv\.A" must be a string, got 1/],
      ['{"image": "box", "containerEnv": ["A=1"]}', /"containerEnv" must be an object, got an array/],
      ['{"image": "box", "remoteEnv": {"A=B": "x"}}', /"remoteEnv" has an invalid variable name "A=B"/],
      ['{"image": "box", "privileged": "yes"}', /"privileged" must be true or false, got the string "yes"/],
      ['{"image": "box", "capAdd": ["SYS ADMIN"]}', /"capAdd\[0\]" is not a capability name/],
      ['{"image": "box", "workspaceFolder": "relative"}', /"workspaceFolder" must be an absolute path in the container/],
      ['{"image": "box", "workspaceFolder": "/a/../etc"}', /"workspaceFolder" must not contain "\.\."/],
      ['{"image": "box", "runArgs": "--init"}', /"runArgs" must be an array/],
      ['{"image": "box", "mounts": [5]}', /"mounts\[0\]" must be a "source=\.\.\.,target=\.\.\.,type=\.\.\." string or an object, got 5/],
    ];
    for (const [text, re] of cases) assert.match(configErr(() => parse(text)).message, re, text);
  });

  it('reports parse errors as InvalidArgument with the file, line and column in the message and data', () => {
    const e = configErr(() => parse('{\n  "image": "box"\n  "init": true\n}'));
    assert.equal(e.message, `workspace up: ${FILE}: expected ',' or '}' but found character '"' at line 3, column 3`);
    assert.equal(e.data.line, 3);
    assert.equal(e.data.column, 3);
  });

  it('refuses huge lists and huge files with the limit named', () => {
    const many = JSON.stringify({ image: 'box', forwardPorts: Array.from({ length: 1001 }, (_, i) => i + 1) });
    assert.match(configErr(() => parse(many)).message, /"forwardPorts" has more than 1000 entries/);
    const huge = `{"image": "box", "x": "${'a'.repeat(MAX_CONFIG_BYTES)}"}`;
    assert.match(configErr(() => parse(huge)).message, /more than the 1048576 bytes a devcontainer.json may have/);
  });

  it('hashes the configuration: equal for equal content in any key order, different for any change', () => {
    const a = parse('{"image": "box", "containerEnv": {"A": "1", "B": "2"}, "forwardPorts": [80]}');
    const b = parse('{"forwardPorts": [80], "containerEnv": {"B": "2", "A": "1"}, "image": "box", "unknownKey": 1}');
    const c = parse('{"image": "box", "containerEnv": {"A": "1", "B": "3"}, "forwardPorts": [80]}');
    assert.equal(configHash(a), configHash(b));
    assert.notEqual(configHash(a), configHash(c));
    assert.notEqual(configHash(a, Buffer.from('FROM x\n')), configHash(a, Buffer.from('FROM y\n')), 'the Dockerfile counts');
    assert.match(configHash(a), /^[0-9a-f]{64}$/);
  });
});

describe('finding and reading the file', () => {
  it('prefers .devcontainer/devcontainer.json over .devcontainer.json, NotFound naming both otherwise', async () => {
    const dir = await makeTempDir('berth-devc-');
    assert.throws(
      () => findConfig(dir, 'workspace up', existsSync),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === ErrorCode.NotFound &&
        e.message.includes('.devcontainer/devcontainer.json and .devcontainer.json'),
    );
    writeFileSync(join(dir, '.devcontainer.json'), '{"image": "b"}');
    assert.equal(findConfig(dir, 'workspace up', existsSync), join(dir, '.devcontainer.json'));
    mkdirSync(join(dir, '.devcontainer'));
    writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), '{"image": "a"}');
    assert.equal(findConfig(dir, 'workspace up', existsSync), join(dir, '.devcontainer', 'devcontainer.json'));
  });

  it('reads only regular files of at most 1 MiB', async () => {
    const dir = await makeTempDir('berth-devc-');
    const big = join(dir, 'big.json');
    writeFileSync(big, Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
    assert.throws(() => readConfigText(big, 'workspace up'), /is 1048577 bytes, more than the 1048576 a devcontainer.json may have/);
    mkdirSync(join(dir, 'd'));
    assert.throws(() => readConfigText(join(dir, 'd'), 'workspace up'), /is not a regular file/);
    symlinkSync('/dev/zero', join(dir, 'zero.json'));
    assert.throws(() => readConfigText(join(dir, 'zero.json'), 'workspace up'), /is not a regular file/);
    const ok = join(dir, 'ok.json');
    writeFileSync(ok, '{"image": "é"}');
    assert.equal(readConfigText(ok, 'workspace up'), '{"image": "é"}');
  });
});
