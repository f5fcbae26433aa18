/**
 * The Docker Engine API door's readers of hostile input, without a socket: request paths (the
 * version prefix, percent-decoding, refused segments), query parameters and `filters` in both of
 * Docker's encodings, label matching, and the HTTP status of each core error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../agent/docker/http';
import { boolFilter, boolParam, filtersParam, intParam, labelsMatch } from '../../agent/docker/query';
import { parsePath, statusOf } from '../../agent/docker/server';
import { BerthError, ErrorCode } from '../../agent/errors';

/** Asserts `fn` throws an HttpError with `status` and a message matching `pattern`. */
function refuses(fn: () => unknown, status: number, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HttpError, `an HttpError, not ${String(e)}`);
    assert.equal(e.status, status);
    assert.match(e.message, pattern);
    return true;
  });
}

const q = (s: string) => new URLSearchParams(s);

describe('docker API: request paths', () => {
  it('splits segments and takes the /vN.NN prefix apart', () => {
    assert.deepEqual(parsePath('/'), { segments: [] });
    assert.deepEqual(parsePath('/containers/json'), { segments: ['containers', 'json'] });
    assert.deepEqual(parsePath('/v1.44/containers/abc/json'), { segments: ['containers', 'abc', 'json'], versioned: '1.44' });
    // Image names keep their slashes as separators (the routes join them back); escapes are decoded.
    assert.deepEqual(parsePath('/images/127.0.0.1:5000/team/box%3Av1/json').segments, [
      'images',
      '127.0.0.1:5000',
      'team',
      'box:v1',
      'json',
    ]);
  });

  it('refuses empty, dot and dot-dot segments, encoded slashes, control characters and bad escapes', () => {
    refuses(() => parsePath('containers/json'), 400, /must start with "\/"/);
    refuses(() => parsePath('/containers//json'), 400, /empty, "\." and "\.\." segments/);
    refuses(() => parsePath('/containers/../json'), 400, /empty, "\." and "\.\." segments/);
    refuses(() => parsePath('/containers/%2e%2e/json'), 400, /empty, "\." and "\.\." segments/);
    refuses(() => parsePath('/volumes/a%2Fb'), 400, /encoded "\/"/);
    refuses(() => parsePath('/volumes/a%0Ab'), 400, /control characters/);
    refuses(() => parsePath('/volumes/%E0%A4%A'), 400, /not valid percent-encoding/);
  });
});

describe('docker API: query parameters', () => {
  it("reads Docker's booleans and integers", () => {
    assert.equal(boolParam(q(''), 'all'), false);
    assert.equal(boolParam(q(''), 'all', true), true);
    for (const off of ['0', 'false', 'no', 'none', '', 'FALSE']) assert.equal(boolParam(q(`all=${off}`), 'all'), false, off);
    for (const on of ['1', 'true', 'yes']) assert.equal(boolParam(q(`all=${on}`), 'all'), true, on);
    assert.equal(intParam(q('limit=5'), 'limit', -1), 5);
    assert.equal(intParam(q('limit='), 'limit', -1), -1);
    refuses(() => intParam(q('limit=5x'), 'limit', -1), 400, /"limit": "5x" is not an integer/);
    refuses(() => intParam(q(`limit=${'9'.repeat(30)}`), 'limit', -1), 400, /not an integer/);
  });

  it('reads filters in both encodings and merges repeated names', () => {
    const list = filtersParam(q(`filters=${encodeURIComponent('{"label":["a=b","c"],"status":["exited"]}')}`), ['label', 'status']);
    assert.deepEqual(
      [...list],
      [
        ['label', ['a=b', 'c']],
        ['status', ['exited']],
      ],
    );
    const map = filtersParam(q(`filters=${encodeURIComponent('{"label":{"a=b":true,"off":false}}')}`), ['label']);
    assert.deepEqual(map.get('label'), ['a=b']);
    assert.equal(filtersParam(q(''), ['label']).size, 0);
  });

  it('refuses malformed, oversized, unknown and prototype-named filters with a sentence', () => {
    const f = (raw: string) => q(`filters=${encodeURIComponent(raw)}`);
    refuses(() => filtersParam(f('{"label":'), ['label']), 400, /invalid filters: not JSON/);
    refuses(() => filtersParam(f('["label"]'), ['label']), 400, /want a JSON object/);
    refuses(() => filtersParam(f('{"label":[1]}'), ['label']), 400, /must be a list of strings or a map of strings to true/);
    refuses(() => filtersParam(f('{"colour":["red"]}'), ['label']), 400, /invalid filter 'colour'/);
    refuses(() => filtersParam(f('{"health":["healthy"]}'), ['label'], ['health']), 400, /"health" is not supported by Berth yet/);
    refuses(() => filtersParam(f('{"__proto__":["x"]}'), ['label']), 400, /invalid filter '__proto__'/);
    assert.equal(({} as Record<string, unknown>).x, undefined);
    refuses(() => filtersParam(f(`{"label":["${'a'.repeat(70_000)}"]}`), ['label']), 400, /longer than/);
  });

  it("matches labels as Docker's label filter does (every value must hold)", () => {
    const labels = { app: 'web', tier: 'front' };
    assert.equal(labelsMatch(labels, undefined), true);
    assert.equal(labelsMatch(labels, ['app']), true);
    assert.equal(labelsMatch(labels, ['app=web', 'tier=front']), true);
    assert.equal(labelsMatch(labels, ['app=web', 'tier=back']), false);
    assert.equal(labelsMatch(labels, ['toString']), false);
    assert.equal(boolFilter('dangling', ['true']), true);
    assert.equal(boolFilter('dangling', ['0']), false);
    refuses(() => boolFilter('dangling', ['true', 'false']), 400, /one value/);
    refuses(() => boolFilter('dangling', ['maybe']), 400, /want true or false/);
  });
});

describe('docker API: statuses of core errors', () => {
  it('maps Berth error codes to the statuses Docker clients act on', () => {
    const err = (code: ErrorCode) => new BerthError(code, 'x', { operation: 'x' });
    assert.equal(statusOf(err(ErrorCode.InvalidArgument)), 400);
    assert.equal(statusOf(err(ErrorCode.InvalidReference)), 400);
    assert.equal(statusOf(err(ErrorCode.PermissionDenied)), 403);
    assert.equal(statusOf(err(ErrorCode.NotFound)), 404);
    assert.equal(statusOf(err(ErrorCode.Conflict)), 409);
    assert.equal(statusOf(err(ErrorCode.System)), 500);
  });
});
