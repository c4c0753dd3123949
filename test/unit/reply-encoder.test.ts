// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeLine, errorResponse, resultResponse, RpcError, type IncomingItem, type Response } from '../../src/protocol/jsonrpc.js';
import { RawJson } from '../../src/protocol/raw-json.js';
import { OutputBuffer, SHARED_PIECE_BYTES, encodeBatch, encodeError, encodeNotification, encodeResult, encodeValue, type EncodedMessage } from '../../src/protocol/reply-encoder.js';
import { flushAtEndOfTurn } from '../../src/protocol/turn.js';

const text = (m: EncodedMessage): string => {
  const out = new OutputBuffer();
  out.push(m);
  const framed = out.takeFramed().toString('utf8');
  assert.ok(framed.endsWith('\n'));
  return framed.slice(0, -1);
};

describe('reply encoder', () => {
  const results: unknown[] = [null, 0, -1.5, 'ab', 'é€😀', ['x', { a: [1, { b: null }] }], { headers: ['00'.repeat(80)], count: 1, max: 2016 }, true, 1e21, 5e-324];
  const ids = [0, 1, -7, 2 ** 53 + 2, 1.5, 'a', '', 'quote " and \\ and \u2028', null];

  it('writes exactly what JSON.stringify of the Response object gives, for every id and result', () => {
    for (const id of ids) {
      for (const result of results) {
        assert.equal(text(encodeResult(id, result)), JSON.stringify(resultResponse(id, result)));
        assert.equal(text(encodeResult(id, RawJson.fromValue(result))), JSON.stringify(resultResponse(id, result)), `RawJson ${JSON.stringify(result)}`);
      }
      const err = new RpcError(-32601, 'unknown method "x"', { why: ['é'] });
      assert.equal(text(encodeError(id, err.toObject())), JSON.stringify(errorResponse(id, err)));
    }
  });

  it('an undefined result is null, as resultResponse makes it', () => {
    assert.equal(text(encodeResult(3, undefined)), '{"jsonrpc":"2.0","id":3,"result":null}');
  });

  it('splices a RawJson result without reading it (its bytes are copied as they are)', () => {
    // Not something JSON.stringify would produce from any value: proof the bytes were not re-serialized.
    const raw = new RawJson(Buffer.from('{"b":1.000,"a":"\\u0041"}'));
    assert.equal(text(encodeResult(9, raw)), '{"jsonrpc":"2.0","id":9,"result":{"b":1.000,"a":"\\u0041"}}');
  });

  it('takes a wire id as it was sent: big numbers and 1.0 come back unchanged', () => {
    assert.equal(text(encodeResult({ wire: '123456789012345678901234567890' }, 1)), '{"jsonrpc":"2.0","id":123456789012345678901234567890,"result":1}');
    assert.equal(text(encodeResult({ wire: '1.0' }, RawJson.fromValue('x'))), '{"jsonrpc":"2.0","id":1.0,"result":"x"}');
    assert.equal(text(encodeError({ wire: '"\\u00e9"' }, { code: 1, message: 'm' })), '{"jsonrpc":"2.0","id":"\\u00e9","error":{"code":1,"message":"m"}}');
  });

  it('counts bytes in UTF-8, not characters', () => {
    const m = encodeResult(1, 'é€😀');
    assert.equal(m.bytes, Buffer.byteLength(JSON.stringify(resultResponse(1, 'é€😀'))));
    const raw = encodeResult(1, new RawJson(Buffer.from('"é€😀"')));
    assert.equal(raw.bytes, m.bytes);
  });

  it('a batch is its members between brackets, in order, with their byte count', () => {
    const members = [encodeResult(1, new RawJson(Buffer.from('[1,2]'))), encodeError('b', { code: 2, message: 'no' }), encodeResult(null, 'é')];
    const batch = encodeBatch(members);
    const expected = `[${members.map(text).join(',')}]`;
    assert.equal(text(batch), expected);
    assert.equal(batch.bytes, Buffer.byteLength(expected));
    assert.equal(text(encodeBatch([members[0]!])), `[${text(members[0]!)}]`);
  });

  it('notifications and plain values', () => {
    assert.equal(text(encodeNotification('blockchain.scripthash.subscribe', ['ab', null])), '{"jsonrpc":"2.0","method":"blockchain.scripthash.subscribe","params":["ab",null]}');
    // RawJson nested in a plain value still serializes correctly (the slow path, through toJSON).
    assert.equal(text(encodeValue({ a: new RawJson(Buffer.from('{"x":[1]}')) })), '{"a":{"x":[1]}}');
  });
});

describe('reply shape and id splicing (issue 11 pt 9, issue 12)', () => {
  const results: unknown[] = [null, 0, 'ab', 'é€😀', ['x', { a: [1, { b: null }] }], true];
  const ids = [0, -7, 1.5, 'a', '', 'quote " and \\ and \u2028 and }{][', null];

  it('a 1.0 reply is {"result","error","id"}, both members present, for every id and result, RawJson or not', () => {
    for (const id of ids) {
      for (const result of results) {
        const expected = JSON.stringify({ result, error: null, id });
        assert.equal(text(encodeResult(id, result, '1.0')), expected);
        assert.equal(text(encodeResult(id, RawJson.fromValue(result), '1.0')), expected);
        assert.equal(encodeResult(id, RawJson.fromValue(result), '1.0').bytes, Buffer.byteLength(expected));
      }
      const err = { code: -32601, message: 'unknown method "x"' };
      assert.equal(text(encodeError(id, err, '1.0')), JSON.stringify({ result: null, error: err, id }));
    }
    assert.equal(text(encodeResult(4, undefined, '1.0')), '{"result":null,"error":null,"id":4}');
  });

  it('a 1.0 notification is a request with id null', () => {
    assert.equal(text(encodeNotification('blockchain.headers.subscribe', [{ height: 1 }], '1.0')), '{"method":"blockchain.headers.subscribe","params":[{"height":1}],"id":null}');
  });

  /** What the session writes for one line: decode, answer every request with `result`, encode as session.ts does. */
  function answer(line: string, result: unknown): string {
    const msg = decodeLine(Buffer.from(line));
    assert.notEqual(msg.kind, 'unparsable');
    const items: readonly IncomingItem[] = msg.kind === 'single' ? [msg.item] : msg.kind === 'batch' ? msg.items : [];
    const replies: Response[] = items.flatMap((i) => (i.kind === 'request' ? [resultResponse(i.id, result, i.shape)] : []));
    const encoded = replies.map((r) => ('result' in r ? encodeResult(r.id, r.result, r.shape) : encodeError(r.id, r.error, r.shape)));
    return msg.kind === 'batch' ? text(encodeBatch(encoded)) : encoded.length === 0 ? '' : text(encoded[0]!);
  }

  it('ids of every JSON type come back as the client wrote them (big numbers beyond a double included)', () => {
    const raw = new RawJson(Buffer.from('{"count":1}'));
    const cases: [string, string][] = [
      ['1', '1'],
      ['-0', '0'],
      ['12345678901234567890', '12345678901234567890'],
      ['-9007199254740993', '-9007199254740993'],
      // A fraction is rounded to the double the client's own parser makes of it: equal ids.
      ['0.1000000000000000055511151231257827', '0.1'],
      ['1e21', '1e21'],
      ['1e2', '100'],
      ['"x"', '"x"'],
      ['"\\u00e9 \\" \\\\ }"', JSON.stringify('\u00e9 " \\ }')],
      ['"😀"', '"😀"'],
      ['null', 'null'],
    ];
    for (const [sent, back] of cases) {
      assert.equal(answer(`{"jsonrpc":"2.0","id":${sent},"method":"server.ping"}`, raw), `{"jsonrpc":"2.0","id":${back},"result":{"count":1}}`, sent);
      assert.equal(answer(`{"id":${sent},"method":"server.ping"}`, raw), `{"jsonrpc":"2.0","id":${back},"result":{"count":1}}`, `no jsonrpc, ${sent}`);
      assert.equal(answer(`{"jsonrpc":"1.0","id":${sent},"method":"server.ping","params":[]}`, raw), `{"result":{"count":1},"error":null,"id":${back}}`, `1.0, ${sent}`);
    }
  });

  it('in a batch each member keeps its own id and shape; notifications get nothing', () => {
    const line = '[{"jsonrpc":"2.0","id":18446744073709551617,"method":"a"},{"jsonrpc":"2.0","method":"n"},7,{"jsonrpc":"1.0","id":"b","method":"c"},{"id":2.50,"method":"d"}]';
    const msg = decodeLine(Buffer.from(line));
    assert.equal(msg.kind, 'batch');
    assert.equal(
      answer(line, 'r'),
      '[{"jsonrpc":"2.0","id":18446744073709551617,"result":"r"},{"result":"r","error":null,"id":"b"},{"jsonrpc":"2.0","id":2.5,"result":"r"}]',
    );
    assert.equal(answer('{"jsonrpc":"2.0","method":"n","params":[]}', 'r'), '');
  });

  it('an invalid request from a 1.0 client gets its error in 1.0 form', () => {
    const msg = decodeLine(Buffer.from('{"jsonrpc":"1.0","id":5,"method":7}'));
    assert.ok(msg.kind === 'single' && msg.item.kind === 'invalid');
    const r = errorResponse(msg.item.id, msg.item.error, msg.item.shape);
    assert.equal(text(encodeError(r.id, r.error, r.shape)), '{"result":null,"error":{"code":-32600,"message":"method must be a string"},"id":5}');
  });
});

describe('OutputBuffer', () => {
  it('frames every message with a newline, in the order pushed, and empties itself', () => {
    const out = new OutputBuffer();
    const msgs = [encodeResult(1, 'a'), encodeNotification('m', [1]), encodeResult(2, new RawJson(Buffer.from('{"é":"😀"}'))), encodeBatch([encodeResult(3, 3)])];
    for (const m of msgs) out.push(m);
    assert.equal(out.length, 4);
    assert.equal(out.bytes, msgs.reduce((n, m) => n + m.bytes + 1, 0));
    const framed = out.takeFramed();
    assert.equal(framed.length, msgs.reduce((n, m) => n + m.bytes + 1, 0));
    assert.deepEqual(framed.toString('utf8').split('\n'), [...msgs.map(text), '']);
    assert.equal(out.length, 0);
    assert.equal(out.bytes, 0);
    assert.equal(out.takeFramed().length, 0);
  });

  it('hands large passed-through results to the socket as they are, the rest gathered, the bytes those of takeFramed', () => {
    const big = (c: string): RawJson => new RawJson(Buffer.from(`["${c.repeat(SHARED_PIECE_BYTES)}"]`));
    const a = big('a');
    const b = big('b');
    const msgs = [encodeResult(1, 'small'), encodeBatch([encodeResult(2, a), encodeResult(3, b), encodeResult(4, 4)]), encodeNotification('m', [1]), encodeResult(5, a)];
    const chunks = (() => {
      const out = new OutputBuffer();
      for (const m of msgs) out.push(m);
      return out.takeChunks();
    })();
    const framed = (() => {
      const out = new OutputBuffer();
      for (const m of msgs) out.push(m);
      return out.takeFramed();
    })();
    assert.deepEqual(Buffer.concat(chunks), framed);
    // The cache's own Buffers, not copies: a batch of 20 such answers per session is not allocated again per session.
    assert.deepEqual(
      chunks.map((c) => (c === a.bytes ? 'a' : c === b.bytes ? 'b' : 'copied')),
      ['copied', 'a', 'copied', 'b', 'copied', 'a', 'copied'],
    );
  });

  it('gathers a turn of small answers into one chunk, and nothing into none', () => {
    const out = new OutputBuffer();
    out.push(encodeResult(1, new RawJson(Buffer.from('[1]'))));
    out.push(encodeResult(2, 'x'.repeat(SHARED_PIECE_BYTES)));
    const chunks = out.takeChunks();
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.toString(), `{"jsonrpc":"2.0","id":1,"result":[1]}\n{"jsonrpc":"2.0","id":2,"result":"${'x'.repeat(SHARED_PIECE_BYTES)}"}\n`);
    assert.equal(out.bytes, 0);
    assert.deepEqual(out.takeChunks(), []);
  });

  it('gives WebSocket one unframed buffer per message', () => {
    const out = new OutputBuffer();
    const raw = Buffer.from('{"jsonrpc":"2.0","id":1,"result":1}');
    out.push({ pieces: [raw], bytes: raw.length });
    out.push(encodeResult(2, new RawJson(Buffer.from('[true]'))));
    const messages = out.takeMessages();
    assert.deepEqual(
      messages.map((m) => m.toString()),
      ['{"jsonrpc":"2.0","id":1,"result":1}', '{"jsonrpc":"2.0","id":2,"result":[true]}'],
    );
    assert.equal(out.length, 0);
  });

  it('says how many bytes wait ahead of the last message (the slow-reader rule per turn)', () => {
    const out = new OutputBuffer();
    assert.equal(out.bytesBeforeLast, 0);
    const a = encodeResult(1, 'x'.repeat(100));
    const b = encodeResult(2, 'y');
    out.push(a);
    assert.equal(out.bytesBeforeLast, 0, 'one answer alone is never ahead of itself');
    out.push(b);
    assert.equal(out.bytesBeforeLast, a.bytes + 1);
  });

  it('clear() drops what waits', () => {
    const out = new OutputBuffer();
    out.push(encodeResult(1, 1));
    out.clear();
    assert.equal(out.bytes, 0);
    assert.equal(out.takeFramed().length, 0);
  });
});

describe('end-of-turn flushing', () => {
  it('flushes everything asked for in one turn together, after the turn, in the order asked', async () => {
    const calls: string[] = [];
    const mk = (name: string) => ({ flushTurn: () => void calls.push(name) });
    const a = mk('a');
    const b = mk('b');
    flushAtEndOfTurn(a);
    flushAtEndOfTurn(b);
    await Promise.resolve();
    assert.deepEqual(calls, [], 'not before the turn ends (microtasks of the same turn still run first)');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, ['a', 'b']);
    flushAtEndOfTurn(a);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, ['a', 'b', 'a'], 'a later turn is flushed again');
  });

  it('one flushable failing does not cost the others their turn', async () => {
    const calls: string[] = [];
    flushAtEndOfTurn({ flushTurn: () => { throw new Error('socket gone'); } });
    flushAtEndOfTurn({ flushTurn: () => void calls.push('ok') });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, ['ok']);
  });
});
