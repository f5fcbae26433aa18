import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileTemplate,
  ellipsis,
  familiarRef,
  familiarRepo,
  formatList,
  humanSize,
  normalizeRef,
  parseName,
  relativeAge,
  shortId,
  table,
  TemplateError,
  toJson,
} from '../../client/format';
import { humanDuration } from '../../protocol/wording';

test('humanSize: 1000-based, 3 significant digits, like docker', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(523), '523B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(1240), '1.24kB');
  assert.equal(humanSize(4_260_000), '4.26MB');
  assert.equal(humanSize(4_264_999), '4.26MB');
  assert.equal(humanSize(12_345_678), '12.3MB');
  assert.equal(humanSize(52_100_000), '52.1MB');
  assert.equal(humanSize(125_000_000), '125MB');
  assert.equal(humanSize(999_700), '1MB');
  assert.equal(humanSize(1.5e9), '1.5GB');
  assert.equal(humanSize(2e12), '2TB');
});

test('humanDuration and relativeAge: docker wording', () => {
  const s = 1000;
  const h = 3600 * s;
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * s), '1 second');
  assert.equal(humanDuration(45 * s), '45 seconds');
  assert.equal(humanDuration(60 * s), 'About a minute');
  assert.equal(humanDuration(150 * s), '2 minutes');
  assert.equal(humanDuration(59 * 60 * s), '59 minutes');
  assert.equal(humanDuration(1 * h), 'About an hour');
  assert.equal(humanDuration(5 * h), '5 hours');
  assert.equal(humanDuration(47 * h), '47 hours');
  assert.equal(humanDuration(72 * h), '3 days');
  assert.equal(humanDuration(15 * 24 * h), '2 weeks');
  assert.equal(humanDuration(70 * 24 * h), '2 months');
  assert.equal(humanDuration(3 * 365 * 24 * h), '3 years');
  const now = Date.UTC(2026, 10, 22, 21, 40);
  assert.equal(relativeAge(now / 1000 - 120, now), '2 minutes ago');
  assert.equal(relativeAge(0, now), 'N/A');
  assert.equal(relativeAge(now / 1000 + 30, now), 'Less than a second ago'); // clock skew
});

test('ids and ellipsis', () => {
  assert.equal(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
  assert.equal(shortId('0123456789abcdef'), '0123456789ab');
  assert.equal(ellipsis('abcdef', 4), 'abc…');
  assert.equal(ellipsis('abc', 4), 'abc');
});

test('references: normalised and familiar forms', () => {
  // The agent's parser (client/format.ts uses it) checks digests: a real-length one here.
  const D = `sha256:${'ab'.repeat(32)}`;
  assert.equal(normalizeRef('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(normalizeRef('busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(normalizeRef('team/app'), 'docker.io/team/app:latest');
  assert.equal(normalizeRef('127.0.0.1:5000/team/app:v1'), '127.0.0.1:5000/team/app:v1');
  assert.equal(normalizeRef('localhost/app'), 'localhost/app:latest');
  assert.equal(normalizeRef(`alpine@${D}`), `docker.io/library/alpine@${D}`);
  assert.equal(familiarRef('docker.io/library/busybox:latest'), 'busybox:latest');
  assert.equal(familiarRef('docker.io/team/app:v1'), 'team/app:v1');
  assert.equal(familiarRef('ghcr.io/o/app:v1'), 'ghcr.io/o/app:v1');
  assert.equal(familiarRef(`docker.io/library/alpine@${D}`), `alpine@${D}`);
  assert.equal(familiarRepo('docker.io/library/busybox'), 'busybox');
  assert.equal(familiarRepo('127.0.0.1:5000/library/busybox'), '127.0.0.1:5000/library/busybox');
  // What the agent's grammar refuses is shown as given (the agent words the error).
  assert.equal(normalizeRef('Busy Box'), 'Busy Box');
  assert.equal(familiarRef('alpine@sha256:abc'), 'alpine@sha256:abc');
  assert.equal(parseName('UPPER/case'), undefined);
  assert.deepEqual(parseName('busybox:1'), { registry: 'docker.io', repository: 'library/busybox', tag: '1' });
});

test('table: docker tabwriter alignment (min width 10, padding 3, last column unpadded)', () => {
  const out = table(
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'],
    [
      ['busybox', 'latest', 'a416a98b71e2', '4.26MB'],
      ['127.0.0.1:5000/team/app', 'v1', '0123456789ab', '12.3MB'],
    ],
  );
  assert.equal(
    out,
    'REPOSITORY                TAG       IMAGE ID       SIZE\n' +
      'busybox                   latest    a416a98b71e2   4.26MB\n' +
      '127.0.0.1:5000/team/app   v1        0123456789ab   12.3MB\n',
  );
  assert.equal(table(['A'], []), 'A\n');
});

const img = {
  Id: 'sha256:abcdef',
  RepoTags: ['docker.io/library/busybox:latest', 'busybox:x'],
  Config: { Env: ['PATH=/bin', 'A=1'], Cmd: null, Labels: { 'org.a': 'b' } },
  Size: 42,
};

test('templates: fields, nested fields, slices, maps, null, missing', () => {
  assert.equal(compileTemplate('{{.Id}}')(img), 'sha256:abcdef');
  assert.equal(compileTemplate('{{ .Id }} {{.Size}}')(img), 'sha256:abcdef 42');
  assert.equal(compileTemplate('{{.RepoTags}}')(img), '[docker.io/library/busybox:latest busybox:x]');
  assert.equal(compileTemplate('{{.Config.Env}}')(img), '[PATH=/bin A=1]');
  assert.equal(compileTemplate('{{.Config.Labels}}')(img), 'map[org.a:b]');
  assert.equal(compileTemplate('{{.Config.Cmd}}')(img), '[]');
  assert.equal(compileTemplate('{{.Nope}}|{{.Config.Nope.Deeper}}')(img), '<no value>|<no value>');
  assert.equal(compileTemplate('id={{.Id}}\\tsize={{.Size}}')(img), 'id=sha256:abcdef\tsize=42');
});

test('templates: json, join, index, len', () => {
  assert.deepEqual(JSON.parse(compileTemplate('{{json .}}')(img)), img);
  assert.equal(compileTemplate('{{json .Config.Env}}')(img), '["PATH=/bin","A=1"]');
  assert.equal(compileTemplate('{{join .RepoTags ","}}')(img), 'docker.io/library/busybox:latest,busybox:x');
  assert.equal(compileTemplate('{{index .Config.Labels "org.a"}}')(img), 'b');
  assert.equal(compileTemplate('{{len .RepoTags}}')(img), '2');
});

test('templates: errors', () => {
  assert.throws(() => compileTemplate('{{.Id'), TemplateError);
  assert.throws(() => compileTemplate('{{nosuchfunc .Id}}'), /function "nosuchfunc" not defined/);
  assert.throws(() => compileTemplate('{{}}'), TemplateError);
});

test('formatList: json array, template lines, table templates', () => {
  const items = [img, { ...img, Id: 'sha256:0123', Size: 7 }];
  assert.equal(formatList('json', items), toJson(items) + '\n');
  assert.equal(formatList('{{.Id}}', items), 'sha256:abcdef\nsha256:0123\n');
  assert.equal(formatList('table {{.Id}}\\t{{.Size}}', items), 'ID              SIZE\nsha256:abcdef   42\nsha256:0123     7\n');
});
