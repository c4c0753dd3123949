// SPDX-License-Identifier: MIT
/**
 * Reading an upstream's line (issue 12 pt 3): results that pass through come
 * back as the upstream's bytes (compacted when padded), equal in value to
 * what JSON.parse gives; everything else is exactly JSON.parse's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRawJson, RawJson } from '../../src/protocol/raw-json.js';
import { RAW_MIN_BYTES, isPaddedReply, readUpstreamLine } from '../../src/upstream/replies.js';

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const all = (): boolean => true;
const big = 'ab'.repeat(RAW_MIN_BYTES);

function only(line: string, wantsRaw: ((id: number) => boolean) | null = all): Record<string, unknown> {
  const msgs = readUpstreamLine(buf(line), wantsRaw);
  assert.ok(msgs !== null && msgs.length === 1, line.slice(0, 80));
  return msgs[0] as Record<string, unknown>;
}

describe('upstream replies', () => {
  it('a large result asked for raw is the result bytes, unparsed', () => {
    const line = `{"jsonrpc":"2.0","result":{"hex":"${big}","n":1.000},"id":4}`;
    const m = only(line);
    assert.equal(m.id, 4);
    assert.ok(isRawJson(m.result));
    // Bytes as sent (1.000 stays 1.000): nothing was re-serialized.
    assert.equal((m.result as RawJson).bytes.toString(), `{"hex":"${big}","n":1.000}`);
  });

  it('a padded ElectrumX answer is compacted, strings inside untouched', () => {
    const line = `{"jsonrpc": "2.0", "result": {"a": [1, 2, "x  y \\" ]"], "hex": "${big}"}, "id": 9${' '.repeat(300)}}`;
    const m = only(line);
    assert.equal((m.result as RawJson).bytes.toString(), `{"a":[1,2,"x  y \\" ]"],"hex":"${big}"}`);
    assert.deepEqual((m.result as RawJson).value(), (JSON.parse(line) as { result: unknown }).result);
  });

  it('unicode, escapes and float-edge numbers pass through with their value intact', () => {
    const result = `["é€😀","\\u00e9\\n\\"}{","${big}",0.1000000000000000055511151231257827,123456789012345678901234567890,-0,1e-400]`;
    const m = only(`{"id":1,"result":${result}}`);
    assert.equal((m.result as RawJson).bytes.toString('utf8'), result);
    assert.deepEqual((m.result as RawJson).value(), JSON.parse(result));
  });

  it('parses what it must read: errors, small lines, requests not raw, notifications, no waiting raw request', () => {
    const err = `{"jsonrpc":"2.0","error":{"code":2,"message":"${big}"},"id":3}`;
    assert.deepEqual(only(err), JSON.parse(err));
    const small = '{"jsonrpc":"2.0","result":{"a":1},"id":3}';
    assert.deepEqual(only(small), JSON.parse(small));
    const line = `{"jsonrpc":"2.0","result":"${big}","id":3}`;
    assert.deepEqual(only(line, (id) => id !== 3), JSON.parse(line));
    assert.deepEqual(only(line, null), JSON.parse(line));
    const note = `{"jsonrpc":"2.0","method":"blockchain.scripthash.subscribe","params":["${big}","s"]}`;
    assert.deepEqual(only(note), JSON.parse(note));
    // A reply carrying both result and a non-null error is read whole: the connection decides.
    const both = `{"id":3,"result":"${big}","error":{"code":1,"message":"m"}}`;
    assert.deepEqual(only(both), JSON.parse(both));
  });

  it('a batch (a request with its filler) gives each reply in order, the filler parsed', () => {
    const line = `[{"jsonrpc": "2.0", "result": "${big}", "id": 7}, {"jsonrpc": "2.0", "result": {"count": 7, "hex": "${'0'.repeat(1120)}", "max": 2016}, "id": "filler-1"}]`;
    const msgs = readUpstreamLine(buf(line), (id) => id === 7)!;
    assert.equal(msgs.length, 2);
    assert.equal(((msgs[0] as { result: RawJson }).result).bytes.toString(), `"${big}"`);
    assert.deepEqual(msgs[1], (JSON.parse(line) as unknown[])[1]);
  });

  it('what the scanner does not vouch for is left to JSON.parse: invalid JSON is null', () => {
    assert.equal(readUpstreamLine(buf(`{"id":1,"result":"${big}"`), all), null);
    assert.equal(readUpstreamLine(buf('nope'), null), null);
    // A key spelled with escapes: JSON.parse reads it (the id is found), so it is not passed raw.
    const escaped = `{"\\u0069d":1,"result":"${big}"}`;
    assert.deepEqual(only(escaped), JSON.parse(escaped));
    // Invalid UTF-8: the scanner refuses, the old decoding (replacement characters) applies.
    const bad = Buffer.concat([buf(`{"id":1,"result":"${big}`), Buffer.from([0xff]), buf('"}')]);
    const m = readUpstreamLine(bad, all)![0] as { result: unknown };
    assert.equal(typeof m.result, 'string');
  });

  it('recognises ElectrumX padding on bytes', () => {
    assert.ok(isPaddedReply(buf(`{"id":1,"result":1${' '.repeat(16)}}`)));
    assert.ok(isPaddedReply(buf(`[{"id":1}${' '.repeat(40)}]\r`)));
    assert.ok(!isPaddedReply(buf(`{"id":1,"result":1${' '.repeat(15)}}`)));
    assert.ok(!isPaddedReply(buf('{"id":1,"result":"                    "}')));
    assert.ok(!isPaddedReply(buf('')));
  });
});
