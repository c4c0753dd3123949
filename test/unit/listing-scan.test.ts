// SPDX-License-Identifier: MIT
/**
 * Listings read from their bytes (issue 11 pt 6, issue 12 pt 3): the
 * scanner must find exactly the (tx_hash, height) pairs JSON.parse would,
 * refuse (null) whatever is not a list of entries with both, and the
 * history order, the tx-origin sightings and the canonical answer built from
 * the bytes must equal what the parsing path gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, RpcError } from '../../src/protocol/jsonrpc.js';
import { isRawJson, RawJson } from '../../src/protocol/raw-json.js';
import { orderHistory, type StatusEntry } from '../../src/protocol/status.js';
import { passesThrough, upstreamCall } from '../../src/routing/adapt.js';
import { ListingJson, historyListing, scanListing } from '../../src/routing/listing-scan.js';
import { TxOrigins } from '../../src/routing/tx-origin.js';

const HISTORY = 'blockchain.scripthash.get_history';
const MEMPOOL = 'blockchain.scripthash.get_mempool';
const UNSPENT = 'blockchain.scripthash.listunspent';
const GET = 'blockchain.transaction.get';
const tx = (n: number): string => n.toString(16).padStart(64, '0');
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The pairs the scanner found, or null. */
function pairs(text: string): [string, number][] | null {
  const l = scanListing(buf(text));
  return l === null ? null : l.heights.map((h, i) => [l.txHash(i), h]);
}

/** What the old path reads: JSON.parse, then every entry's tx_hash and height; null when any entry lacks them. */
function parsedPairs(text: string): [string, number][] | null {
  const v: unknown = JSON.parse(text);
  if (!Array.isArray(v)) return null;
  const out: [string, number][] = [];
  for (const e of v) {
    if (e === null || typeof e !== 'object') return null;
    const { tx_hash: h, height } = e as { tx_hash?: unknown; height?: unknown };
    if (typeof h !== 'string' || typeof height !== 'number') return null;
    out.push([h, height]);
  }
  return out;
}

/** Every txid TxOrigins remembers after learning `canonical`, with its upstream. */
function sightings(canonical: unknown, txids: readonly string[], tip: number | null): (string | undefined)[] {
  const o = new TxOrigins();
  o.learn(HISTORY, canonical, 'a', tip);
  return txids.map((t) => o.originOf(GET, [t]));
}

describe('listing scanner', () => {
  it('reads tx_hash and height whatever the key order and the other keys', () => {
    assert.deepEqual(pairs(`[{"tx_hash":"${tx(1)}","height":5},{"height":7,"tx_hash":"${tx(2)}"}]`), [
      [tx(1), 5],
      [tx(2), 7],
    ]);
    const unspent = `[{"tx_pos":1,"value":5000,"tx_hash":"${tx(3)}","height":0},{"height":-1,"fee":230,"tx_hash":"${tx(4)}"}]`;
    assert.deepEqual(pairs(unspent), [
      [tx(3), 0],
      [tx(4), -1],
    ]);
  });

  it('skips nested values, strings with quotes, brackets and escapes in other keys', () => {
    const text = `[{"x":{"tx_hash":"no","height":1,"a":[1,{"b":"]}\\"{"}]},"tx_hash":"${tx(5)}","s":"\\\\","t":"\\"}","height":9,"n":null,"f":false,"e":1.5e-3}]`;
    assert.deepEqual(pairs(text), [[tx(5), 9]]);
    assert.deepEqual(pairs(text), parsedPairs(text));
  });

  it('decodes escapes in keys and in tx_hash as JSON.parse does', () => {
    const text = `[{"tx\\u005fhash":"ab\\"c\\u00e9","he\\u0069ght":3}]`;
    assert.deepEqual(pairs(text), [['ab"cé', 3]]);
    assert.deepEqual(pairs(`[{"tx_hash":"é☃","height":1}]`), [['é☃', 1]], 'non-ASCII without escapes');
  });

  it('reads heights as numbers in every JSON spelling', () => {
    const text = `[{"tx_hash":"a","height":-0},{"tx_hash":"b","height":1.0},{"tx_hash":"c","height":2E2},{"tx_hash":"d","height":12345678901234567890},{"tx_hash":"e","height":-3}]`;
    assert.deepEqual(pairs(text), parsedPairs(text));
    assert.ok(Object.is(pairs(text)![0]![1], -0));
  });

  it('the last of duplicate keys wins, as in JSON.parse', () => {
    assert.deepEqual(pairs(`[{"tx_hash":"a","height":1,"tx_hash":"b","height":2}]`), [['b', 2]]);
    assert.equal(pairs(`[{"tx_hash":"a","height":1,"height":"2"}]`), null, 'a later height that is not a number');
    assert.equal(pairs(`[{"tx_hash":"a","height":1,"tx_hash":5}]`), null, 'a later tx_hash that is not a string');
    assert.deepEqual(pairs(`[{"tx_hash":5,"height":1,"tx_hash":"a"}]`), [['a', 1]]);
  });

  it('an empty list is a listing with no entries', () => {
    assert.deepEqual(pairs('[]'), []);
  });

  it('refuses whatever is not a list of entries with both: the caller parses', () => {
    for (const text of [
      '{}',
      '"[]"',
      '5',
      'null',
      '[1]',
      '[null]',
      '[[]]',
      '[{}]',
      `[{"tx_hash":"a"}]`,
      `[{"height":1}]`,
      `[{"tx_hash":1,"height":1}]`,
      `[{"tx_hash":"a","height":"1"}]`,
      `[{"tx_hash":"a","height":null}]`,
      `[{"tx_hash":"a","height":[1]}]`,
      `[{"tx_hash":"a","height":1},5]`,
      // Whitespace: compacted before it gets here (replies.ts); if not, it is parsed.
      `[ {"tx_hash":"a","height":1}]`,
      `[{"tx_hash": "a","height":1}]`,
      `[{"tx_hash":"a","height":1} ]`,
    ]) {
      assert.equal(pairs(text), null, text);
    }
  });

  it('refuses bytes cut short or trailing', () => {
    for (const text of [`[{"tx_hash":"a","height":1}`, `[{"tx_hash":"a","height":1}]]`, `[{"tx_hash":"a","height":1}],`, '[', '[{"tx_hash":"a', '[{"tx_hash":"a","height":-']) {
      assert.equal(pairs(text), null, text);
    }
  });
});

describe('a history in spec order from its bytes', () => {
  it('keeps the very bytes when the server sent the spec order', () => {
    const text = `[{"tx_hash":"${tx(1)}","height":5},{"tx_hash":"${tx(2)}","height":5},{"tx_hash":"${tx(3)}","height":9},{"tx_hash":"${tx(4)}","height":0,"fee":1},{"tx_hash":"${tx(5)}","height":-1,"fee":1}]`;
    const raw = new RawJson(buf(text));
    const l = historyListing(raw)!;
    assert.ok(l instanceof ListingJson);
    assert.equal(l.bytes, raw.bytes, 'the same memory: nothing copied');
  });

  it('splices the entries into the spec order otherwise, each entry as sent', () => {
    const text = `[{"tx_hash":"${tx(9)}","height":0,"fee":1.50},{"tx_hash":"${tx(3)}","height":7},{"height":-1,"tx_hash":"${tx(1)}"},{"tx_hash":"${tx(8)}","height":0},{"tx_hash":"${tx(2)}","height":3},{"tx_hash":"${tx(4)}","height":3}]`;
    const l = historyListing(new RawJson(buf(text)))!;
    const out = l.bytes.toString();
    assert.deepEqual(JSON.parse(out), orderHistory(JSON.parse(text) as StatusEntry[]));
    assert.ok(out.includes(`"fee":1.50`), 'entries are copied, not re-serialized');
    assert.deepEqual(
      l.listing.heights.map((h, i) => [l.listing.txHash(i), h]),
      (JSON.parse(out) as StatusEntry[]).map((e) => [e.tx_hash, e.height]),
      'the new bytes are scanned right',
    );
  });
});

describe('listings through adapt and TxOrigins', () => {
  const text = `[{"tx_hash":"${tx(1)}","height":10},{"tx_hash":"${tx(2)}","height":97},{"tx_hash":"${'AB'.repeat(32)}","height":0}]`;

  it('history, mempool and listunspent are asked raw and stay bytes', () => {
    for (const method of [HISTORY, MEMPOOL, UNSPENT]) {
      const call = upstreamCall(method, ['00'.repeat(32)], '1.4');
      assert.ok(passesThrough(call), method);
      const c = call.toCanonical(new RawJson(buf(text)));
      assert.ok(c instanceof ListingJson, method);
      assert.equal(c.bytes.toString(), text);
    }
    // electrs' get_mempool is cut out of its history: parsed.
    assert.equal(passesThrough(upstreamCall(MEMPOOL, ['00'.repeat(32)], '1.4', new Set(['get_mempool']))), false);
  });

  it('bytes the scanner refuses are parsed and judged as any answer', () => {
    const call = upstreamCall(HISTORY, ['00'.repeat(32)], '1.4');
    const spaced = `[ {"tx_hash":"${tx(2)}","height":5}, {"tx_hash":"${tx(1)}","height":4}]`;
    const c = call.toCanonical(new RawJson(buf(spaced)));
    assert.ok(!isRawJson(c));
    assert.deepEqual(c, orderHistory(JSON.parse(spaced) as StatusEntry[]));
    for (const bad of ['{"a":1}', '[{"tx_hash":"a"}]', '[5]']) {
      assert.throws(
        () => call.toCanonical(new RawJson(buf(bad))),
        (err: unknown) => err instanceof RpcError && err.code === ErrorCode.INTERNAL_ERROR,
        bad,
      );
    }
    const unspent = upstreamCall(UNSPENT, ['00'.repeat(32)], '1.4').toCanonical(new RawJson(buf('[{"tx_hash":"a","tx_pos":0,"value":1}]')));
    assert.deepEqual(unspent, [{ tx_hash: 'a', tx_pos: 0, value: 1 }], 'listunspent is passed on as sent, parsed when not a listing');
  });

  it('TxOrigins learns the same from bytes, scanned or not, as from the parsed list', () => {
    const txids = [tx(1), tx(2), 'ab'.repeat(32)];
    const parsed = sightings(JSON.parse(text), txids, 100);
    assert.deepEqual(parsed, [undefined, 'a', 'a']);
    assert.deepEqual(sightings(historyListing(new RawJson(buf(text))), txids, 100), parsed);
    assert.deepEqual(sightings(new RawJson(buf(text)), txids, 100), parsed, 'a plain RawJson is scanned');
    assert.deepEqual(sightings(new RawJson(buf(text.replace('[', '[ '))), txids, 100), parsed, 'or parsed');
  });
});

/** A JSON text for `value` whose object keys are sometimes spelt with \u escapes. */
const escapedKey = (k: string): string => `"${k.split('').map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;

/** One entry's members: tx_hash and height (or not, or of another type), other keys, in any order, duplicates possible. */
const member = fc.oneof(
  fc.record({ k: fc.constant('tx_hash'), v: fc.oneof({ weight: 6, arbitrary: fc.stringMatching(/^[0-9a-fA-F]{64}$/) }, { weight: 2, arbitrary: fc.string({ unit: 'binary' }) }, { weight: 1, arbitrary: fc.jsonValue() }) }),
  fc.record({
    k: fc.constant('height'),
    v: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -1, max: 900_000 }) }, { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) }, { weight: 1, arbitrary: fc.jsonValue() }),
  }),
  fc.record({ k: fc.constantFrom('fee', 'tx_pos', 'value', 'x', 'tx_hashes', 'heigh', ''), v: fc.jsonValue() }),
  fc.record({ k: fc.string({ unit: 'binary', maxLength: 8 }), v: fc.jsonValue({ maxDepth: 3 }) }),
);

const entryText = fc
  .tuple(fc.array(member, { maxLength: 6 }), fc.boolean(), fc.boolean(), fc.boolean())
  .map(([members, needHash, needHeight, escapeKeys]) => {
    const all = [...members];
    if (needHash) all.push({ k: 'tx_hash', v: 'f'.repeat(64) });
    if (needHeight) all.push({ k: 'height', v: 7 });
    return `{${all.map(({ k, v }) => `${escapeKeys && k.length > 0 ? escapedKey(k) : JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
  });

/** Entries as the servers write them (hex tx_hash, whole heights, sometimes a fee), so most listings are well formed. */
const plainEntry = fc
  .tuple(fc.stringMatching(/^[0-9a-f]{64}$/), fc.integer({ min: -1, max: 120 }), fc.option(fc.nat(), { nil: undefined }), fc.boolean())
  .map(([h, height, fee, heightFirst]) => {
    const e = heightFirst ? { height, tx_hash: h } : { tx_hash: h, height };
    return JSON.stringify(fee === undefined ? e : { ...e, fee });
  });

const listingText = fc.oneof(
  { weight: 3, arbitrary: fc.array(plainEntry, { maxLength: 40 }).map((es) => `[${es.join(',')}]`) },
  { weight: 3, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: plainEntry }, { weight: 1, arbitrary: entryText }), { maxLength: 12 }).map((es) => `[${es.join(',')}]`) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
);

describe('listing scanner against JSON.parse (property)', () => {
  it('agrees on the pairs, on refusing, on the history order and on what TxOrigins learns', () => {
    fc.assert(
      fc.property(listingText, fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }), (text, tip) => {
        const expected = parsedPairs(text);
        const got = pairs(text);
        assert.deepEqual(got, expected);
        if (expected === null) return;
        const parsed = JSON.parse(text) as StatusEntry[];
        const ordered = historyListing(new RawJson(buf(text)))!;
        assert.deepEqual(JSON.parse(ordered.bytes.toString('utf8')), orderHistory(parsed));
        const txids = [...new Set(parsed.map((e) => e.tx_hash.toLowerCase()))];
        assert.deepEqual(sightings(ordered, txids, tip), sightings(parsed, txids, tip));
      }),
      { numRuns: 2000 },
    );
  });
});
