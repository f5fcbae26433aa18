/**
 * The Dockerfile parser (agent/builder/dockerfile.ts): directives, comments, continuations, forms,
 * flags, stages, and hostile input (huge files and lines, NUL bytes, bad UTF-8, unterminated JSON
 * and quotes, unknown instructions and flags): every error is "Dockerfile:LINE: INSTRUCTION: what"
 * with data {operation, path, line}.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../protocol';
import { BerthError } from '../../agent/errors';
import { MAX_DOCKERFILE_BYTES, MAX_INSTRUCTIONS, parseDockerfile, type Instruction } from '../../agent/builder/dockerfile';

function fails(text: string | Buffer, re: RegExp, line?: number): BerthError {
  try {
    parseDockerfile(text, { path: '/ctx/Dockerfile' });
  } catch (e) {
    assert.ok(e instanceof BerthError, `a BerthError, got ${e}`);
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, re);
    assert.equal(e.data.operation, 'build');
    assert.equal(e.data.path, '/ctx/Dockerfile');
    assert.equal(e.data.line, line);
    return e;
  }
  assert.fail(`expected ${re} for:\n${typeof text === 'string' ? text.slice(0, 200) : '<bytes>'}`);
}

function only(text: string): Instruction {
  const df = parseDockerfile(`FROM scratch\n${text}\n`);
  assert.equal(df.stages[0].instructions.length, 1);
  return df.stages[0].instructions[0];
}

describe('Dockerfile parser: structure', () => {
  it('stages, names, global ARGs, lines of instructions', () => {
    const df = parseDockerfile(
      'ARG V=1\nARG BASE\n\nfrom busybox:$V as Build\nrun make\n\n# a comment\nFROM build\nCOPY --from=build /out /out\n',
    );
    assert.deepEqual(
      df.globalArgs.map((a) => a.args),
      [[{ name: 'V', value: '1' }], [{ name: 'BASE' }]],
    );
    assert.equal(df.stages.length, 2);
    assert.equal(df.stages[0].name, 'build', 'stage names are lower-cased');
    assert.equal(df.stages[0].from.image, 'busybox:$V');
    assert.equal(df.stages[0].from.line, 4);
    assert.deepEqual(
      df.stages[0].instructions.map((i) => [i.keyword, i.line]),
      [['RUN', 5]],
    );
    assert.equal(df.stages[1].from.image, 'build');
    const copy = df.stages[1].instructions[0];
    assert.equal(copy.keyword, 'COPY');
    if (copy.keyword === 'COPY') {
      assert.deepEqual([copy.from, copy.sources, copy.dest], ['build', ['/out'], '/out']);
    }
  });

  it('continuations join the pieces as written; comments and blank lines inside them are dropped', () => {
    const df = parseDockerfile('FROM scratch\nRUN echo a \\\n# inside\n\n  && echo b \\   \n  && echo c\nCMD x\n');
    const [run, cmd] = df.stages[0].instructions;
    assert.equal(run.line, 2);
    assert.equal(run.keyword === 'RUN' && run.command.shell, 'echo a   && echo b   && echo c');
    assert.equal(cmd.line, 7);
    assert.deepEqual(df.warnings, ['Dockerfile:4: empty continuation line']);
  });

  it('a final line ending in the escape character ends the file', () => {
    const df = parseDockerfile('FROM scratch\nRUN echo a \\');
    const run = df.stages[0].instructions[0];
    assert.equal(run.keyword === 'RUN' && run.command.shell, 'echo a');
  });

  it('parser directives: escape, syntax (ignored with a warning), only at the top', () => {
    const df = parseDockerfile('# escape=`\n# syntax=docker/dockerfile:1\nFROM scratch\nRUN dir c:\\ `\n  && echo x\n');
    assert.equal(df.escape, '`');
    assert.match(df.warnings[0], /^Dockerfile:2: the "syntax" directive \(docker\/dockerfile:1\) is ignored/);
    assert.equal(df.stages[0].instructions[0].keyword === 'RUN' && df.stages[0].instructions[0].command.shell, 'dir c:\\   && echo x');
    // After a comment, a directive-looking line is a comment.
    const later = parseDockerfile('# hello\n# escape=`\nFROM scratch\n');
    assert.equal(later.escape, '\\');
    fails('# escape=x\nFROM scratch\n', /^Dockerfile:1: invalid escape directive "x"/, 1);
    fails('# escape=`\n# escape=\\\nFROM scratch\n', /^Dockerfile:2: the parser directive "escape" is given more than once/, 2);
  });

  it('CRLF line endings and a byte order mark are accepted', () => {
    const df = parseDockerfile('\ufeffFROM scratch\r\nENV A=1\r\n');
    assert.equal(df.stages[0].instructions[0].keyword, 'ENV');
  });
});

describe('Dockerfile parser: forms', () => {
  it('RUN, CMD and ENTRYPOINT: JSON when it parses as an array of strings, else shell form', () => {
    assert.deepEqual((only('RUN ["echo", "hi"]') as { command: unknown }).command, { exec: ['echo', 'hi'] });
    assert.deepEqual((only('CMD [ -f /x ] && echo yes') as { command: unknown }).command, { shell: '[ -f /x ] && echo yes' });
    assert.deepEqual((only('ENTRYPOINT [ "$X" = y ]') as { command: unknown }).command, { shell: '[ "$X" = y ]' });
    assert.deepEqual((only('CMD []') as { command: unknown }).command, { exec: [] });
  });

  it('broken JSON arrays are errors naming the line, never silently shell form', () => {
    fails('FROM scratch\nCMD ["sh", "-c"\n', /^Dockerfile:2: CMD: CMD looks like a JSON array but is not valid JSON/, 2);
    fails('FROM scratch\n\nENTRYPOINT ["a" "b"]\n', /^Dockerfile:3: ENTRYPOINT: ENTRYPOINT looks like a JSON array/, 3);
    fails('FROM scratch\nRUN [1, 2]\n', /^Dockerfile:2: RUN: RUN must be a JSON array of strings/, 2);
    fails('FROM scratch\nRUN []\n', /^Dockerfile:2: RUN: needs a command/, 2);
    fails('FROM scratch\nSHELL /bin/bash -c\n', /^Dockerfile:2: SHELL: must be a non-empty JSON array of strings/, 2);
  });

  it('ENV and LABEL: NAME=VALUE pairs with quotes kept for expansion, and the old NAME VALUE form', () => {
    assert.deepEqual((only('ENV A=1 B="two words" C=') as { pairs: unknown }).pairs, [
      { key: 'A', value: '1' },
      { key: 'B', value: '"two words"' },
      { key: 'C', value: '' },
    ]);
    assert.deepEqual((only('ENV PATH /usr/bin:/bin   and more') as { pairs: unknown }).pairs, [
      { key: 'PATH', value: '/usr/bin:/bin   and more' },
    ]);
    fails('FROM scratch\nENV A=1 B\n', /^Dockerfile:2: ENV: "B" is not NAME=VALUE/, 2);
    fails('FROM scratch\nENV ONLY\n', /^Dockerfile:2: ENV: "ONLY" has no value/, 2);
    fails('FROM scratch\nLABEL =x\n', /^Dockerfile:2: LABEL: a name is empty/, 2);
    fails('FROM scratch\nENV A="unterminated\n', /^Dockerfile:2: ENV: unterminated double quote/, 2);
  });

  it('COPY and ADD: flags, JSON form, at least a source and a destination', () => {
    const c = only('COPY --chown=app:app --chmod=0644 ["a b", "dest/"]');
    assert.ok(c.keyword === 'COPY');
    assert.deepEqual([c.sources, c.dest, c.json, c.chown, c.chmod], [['a b'], 'dest/', true, 'app:app', '0644']);
    fails('FROM scratch\nCOPY only\n', /^Dockerfile:2: COPY: needs at least one source and a destination/, 2);
    fails('FROM scratch\nCOPY --chmod=u+x a b\n', /^Dockerfile:2: COPY: --chmod must be an octal mode/, 2);
    fails('FROM scratch\nCOPY --from a b\n', /^Dockerfile:2: COPY: the flag --from needs a value/, 2);
    fails('FROM scratch\nCOPY --link a b\n', /^Dockerfile:2: COPY: COPY --link is not supported/, 2);
    fails('FROM scratch\nADD --from=x a b\n', /^Dockerfile:2: ADD: ADD does not take --from; use COPY --from/, 2);
    fails('FROM scratch\nADD --checksum=sha256:00 a b\n', /^Dockerfile:2: ADD: ADD --checksum is not supported/, 2);
    fails('FROM scratch\nCOPY --chown=1 --chown=2 a b\n', /^Dockerfile:2: COPY: the flag --chown is given more than once/, 2);
  });

  it('FROM: image, AS name, --platform; bad shapes and names', () => {
    const df = parseDockerfile('FROM --platform=$BUILDPLATFORM busybox AS b-1.x\n');
    assert.deepEqual([df.stages[0].from.platform, df.stages[0].from.image, df.stages[0].name], ['$BUILDPLATFORM', 'busybox', 'b-1.x']);
    fails('FROM a b\n', /^Dockerfile:1: FROM: want "FROM image \[AS name\]"/, 1);
    fails('FROM a AS 1st\n', /^Dockerfile:1: FROM: invalid stage name "1st"/, 1);
    fails('FROM a AS x\nFROM b AS X\n', /^Dockerfile:2: FROM: the stage name "x" is used by an earlier stage/, 2);
    fails('FROM --network=none a\n', /^Dockerfile:1: FROM: unknown flag: --network/, 1);
  });

  it('ARG, USER, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL', () => {
    assert.deepEqual((only('ARG A B=2') as { args: unknown }).args, [{ name: 'A' }, { name: 'B', value: '2' }]);
    fails('FROM scratch\nARG 1A\n', /^Dockerfile:2: ARG: invalid argument name "1A"/, 2);
    fails('FROM scratch\nUSER a b\n', /^Dockerfile:2: USER: takes exactly one argument/, 2);
    assert.equal((only('WORKDIR "/with space"') as { value: string }).value, '"/with space"');
    assert.deepEqual((only('VOLUME ["/a", "/b"]') as { paths: unknown }).paths, ['/a', '/b']);
    assert.deepEqual((only('VOLUME /a /b') as { paths: unknown }).paths, ['/a', '/b']);
    assert.deepEqual((only('EXPOSE 80 443/udp') as { ports: unknown }).ports, ['80', '443/udp']);
    fails('FROM scratch\nSTOPSIGNAL\n', /^Dockerfile:2: STOPSIGNAL: needs a value/, 2);
  });
});

describe('Dockerfile parser: refusals and hostile input', () => {
  it('unknown and unsupported instructions name their line', () => {
    fails('FROM scratch\n\n# x\nFROOM busybox\n', /^Dockerfile:4: unknown instruction: FROOM$/, 4);
    fails('FROM scratch\nHEALTHCHECK CMD true\n', /^Dockerfile:2: HEALTHCHECK: HEALTHCHECK is not supported/, 2);
    fails('FROM scratch\nONBUILD RUN x\n', /^Dockerfile:2: ONBUILD: ONBUILD is not supported/, 2);
    fails(`FROM scratch\n${'X'.repeat(100000)} y\n`, /^Dockerfile:2: unknown instruction: X{64}\.\.\.$/, 2);
  });

  it('instructions before FROM, or no FROM at all', () => {
    fails('RUN echo\nFROM scratch\n', /^Dockerfile:1: RUN: comes before any FROM/, 1);
    fails('# only a comment\nARG A=1\n', /^Dockerfile: no FROM instruction/, undefined);
    fails('', /^Dockerfile: no FROM instruction/, undefined);
  });

  it('heredocs are refused, naming the line; a shift in arithmetic is not a heredoc', () => {
    fails('FROM scratch\nRUN <<EOF\necho\nEOF\n', /^Dockerfile:2: RUN: heredocs \(<<WORD\) are not supported/, 2);
    fails('FROM scratch\nRUN cat <<-"END" > /x\n', /^Dockerfile:2: RUN: heredocs/, 2);
    fails('FROM scratch\nCOPY <<EOF /x\n', /^Dockerfile:2: COPY: heredocs/, 2);
    const run = only('RUN echo $((1<<4))');
    assert.equal(run.keyword === 'RUN' && run.command.shell, 'echo $((1<<4))');
  });

  it('flags: unknown, malformed, the RUN ones Berth does not do', () => {
    fails('FROM scratch\nRUN --network=none true\n', /^Dockerfile:2: RUN: RUN --network is not supported/, 2);
    fails('FROM scratch\nRUN --security=insecure true\n', /^Dockerfile:2: RUN: RUN --security is not supported/, 2);
    fails('FROM scratch\nENV --x=1 A=1\n', /^Dockerfile:2: ENV: unknown flag: --x/, 2);
    fails('FROM scratch\nCOPY --Bad_Flag=1 a b\n', /^Dockerfile:2: COPY: invalid flag/, 2);
    fails('FROM scratch\nCMD -- x\n', /^Dockerfile:2: CMD: a lone "--" is not a flag/, 2);
  });

  it('NUL bytes, invalid UTF-8 and oversized files are refused', () => {
    fails('FROM scratch\nRUN echo \0 x\n', /^Dockerfile:2: the line contains a NUL byte$/, 2);
    fails(Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x20, 0xff, 0xfe, 0x0a]), /^Dockerfile: the Dockerfile is not valid UTF-8 text$/, undefined);
    fails('FROM scratch\n' + 'a'.repeat(MAX_DOCKERFILE_BYTES), /^Dockerfile: the Dockerfile is larger than 1048576 bytes$/, undefined);
    fails(Buffer.alloc(MAX_DOCKERFILE_BYTES + 1, 0x20), /^Dockerfile: the Dockerfile is larger than/, undefined);
    fails(
      'FROM scratch\n' + 'ENV A=1\n'.repeat(MAX_INSTRUCTIONS),
      new RegExp(`^Dockerfile:${MAX_INSTRUCTIONS + 1}: too many instructions`),
      MAX_INSTRUCTIONS + 1,
    );
  });

  it('a huge line and a huge continuation parse in linear time', () => {
    const long = 'x'.repeat(MAX_DOCKERFILE_BYTES - 100);
    const df = parseDockerfile(`FROM scratch\nRUN ${long}\n`);
    assert.equal(df.stages[0].instructions[0].keyword === 'RUN' && df.stages[0].instructions[0].command.shell!.length, long.length);
    const cont = parseDockerfile(`FROM scratch\nRUN a \\\n${'b \\\n'.repeat(100000)}c\n`);
    assert.equal(cont.stages[0].instructions.length, 1);
    // Pathological quoting and bracket sequences stay linear too.
    const quotes = parseDockerfile(`FROM scratch\nENV A=${'"x"'.repeat(200000)}\nCMD ${'['.repeat(300000)}\n`);
    assert.equal(quotes.stages[0].instructions.length, 2);
  });
});
