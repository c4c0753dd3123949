// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ErrorCode,
  RpcError,
  classify,
  decodeLine,
  errorResponse,
  notification,
  positional,
  resultResponse,
  type IncomingItem,
  type IncomingMessage,
} from '../../src/protocol/jsonrpc.js';

const line = (s: string): Buffer => Buffer.from(s, 'utf8');

function single(msg: IncomingMessage): IncomingItem {
  assert.equal(msg.kind, 'single', `expected a single message, got ${JSON.stringify(msg)}`);
  return (msg as { item: IncomingItem }).item;
}

function invalid(item: IncomingItem): { id: unknown; code: number; message: string } {
  assert.equal(item.kind, 'invalid', `expected an invalid item, got ${JSON.stringify(item)}`);
  const it = item as { id: unknown; error: RpcError };
  assert.ok(it.error instanceof RpcError);
  return { id: it.id, code: it.error.code, message: it.error.message };
}

describe('decodeLine: JSON-RPC 2.0 and the loose 1.0 forms', () => {
  it('decodes a 2.0 request', () => {
    assert.deepEqual(single(decodeLine(line('{"jsonrpc":"2.0","id":7,"method":"server.ping","params":[]}'))), {
      kind: 'request',
      id: 7,
      method: 'server.ping',
      params: [],
    });
  });

  it('accepts a request without "jsonrpc" (loose 1.0 form)', () => {
    assert.deepEqual(single(decodeLine(line('{"id":1,"method":"server.version","params":["x","1.4"]}'))), {
      kind: 'request',
      id: 1,
      method: 'server.version',
      params: ['x', '1.4'],
    });
  });

  it('accepts "jsonrpc":"1.0" too', () => {
    const item = single(decodeLine(line('{"jsonrpc":"1.0","id":3,"method":"server.ping"}')));
    assert.equal(item.kind, 'request');
  });

  it('marks only an explicit "jsonrpc":"1.0" for a 1.0-shaped reply (no "jsonrpc" gets 2.0, as from ElectrumX)', () => {
    const v1 = single(decodeLine(line('{"jsonrpc":"1.0","id":3,"method":"server.ping","params":[]}')));
    assert.equal(v1.kind === 'request' && v1.shape, '1.0');
    const loose = single(decodeLine(line('{"id":3,"method":"server.ping"}')));
    assert.equal(loose.kind === 'request' && loose.shape, undefined);
    const v2 = single(decodeLine(line('{"jsonrpc":"2.0","id":3,"method":"server.ping"}')));
    assert.equal(v2.kind === 'request' && v2.shape, undefined);
    const bad = single(decodeLine(line('{"jsonrpc":"1.0","id":3,"method":null}')));
    assert.equal(bad.kind === 'invalid' && bad.shape, '1.0');
  });

  it('an integer id beyond 2^53 keeps the text the client sent; safe ones stay numbers', () => {
    const big = single(decodeLine(line('{"id":123456789012345678901,"method":"m"}')));
    assert.deepEqual(big.kind === 'request' && big.id, { wire: '123456789012345678901' });
    const safe = single(decodeLine(line('{"id":9007199254740991,"method":"m"}')));
    assert.equal(safe.kind === 'request' && safe.id, 9007199254740991);
  });

  it('keeps string ids as strings and number ids as numbers, exactly', () => {
    const s = single(decodeLine(line('{"id":"42","method":"m"}')));
    assert.equal(s.kind === 'request' && s.id, '42');
    const n = single(decodeLine(line('{"id":42,"method":"m"}')));
    assert.equal(n.kind === 'request' && n.id, 42);
    const zero = single(decodeLine(line('{"id":0,"method":"m"}')));
    assert.equal(zero.kind, 'request', 'id 0 is a real id, not a notification');
    assert.equal(zero.kind === 'request' && zero.id, 0);
    const empty = single(decodeLine(line('{"id":"","method":"m"}')));
    assert.equal(empty.kind === 'request' && empty.id, '');
    const frac = single(decodeLine(line('{"id":1.5,"method":"m"}')));
    assert.equal(frac.kind === 'request' && frac.id, 1.5);
    const neg = single(decodeLine(line('{"id":-9,"method":"m"}')));
    assert.equal(neg.kind === 'request' && neg.id, -9);
  });

  it('treats null and missing params as no params', () => {
    for (const text of ['{"id":1,"method":"server.ping","params":null}', '{"id":1,"method":"server.ping"}']) {
      const item = single(decodeLine(line(text)));
      assert.deepEqual(item, { kind: 'request', id: 1, method: 'server.ping', params: [] });
    }
  });

  it('keeps named params as an object', () => {
    const item = single(decodeLine(line('{"id":1,"method":"blockchain.block.header","params":{"height":5}}')));
    assert.deepEqual(item, { kind: 'request', id: 1, method: 'blockchain.block.header', params: { height: 5 } });
  });

  it('refuses scalar params with -32602', () => {
    for (const p of ['5', '"abc"', 'true']) {
      const e = invalid(single(decodeLine(line(`{"id":9,"method":"m","params":${p}}`))));
      assert.equal(e.code, ErrorCode.INVALID_PARAMS);
      assert.equal(e.id, 9, 'the error still carries the request id');
      assert.match(e.message, /^invalid request arguments/);
    }
  });

  it('a missing id makes a notification (no reply); id null is a request answered with id null, as JSON-RPC 2.0 says', () => {
    assert.deepEqual(single(decodeLine(line('{"method":"server.ping","params":[]}'))), { kind: 'notification', method: 'server.ping', params: [] });
    assert.deepEqual(single(decodeLine(line('{"id":null,"method":"server.ping","params":[]}'))), { kind: 'request', id: null, method: 'server.ping', params: [] });
  });

  it('refuses ids that are neither string nor number with ElectrumX\'s message', () => {
    for (const [raw, shown] of [
      ['true', 'true'],
      ['[1]', '[1]'],
      ['{"a":1}', '{"a":1}'],
    ] as const) {
      const e = invalid(single(decodeLine(line(`{"id":${raw},"method":"m"}`))));
      assert.equal(e.code, ErrorCode.INVALID_REQUEST);
      assert.equal(e.message, `invalid "id": ${shown}`);
      assert.equal(e.id, null);
    }
  });

  it('a missing or non-string method is -32600 "method must be a string", keeping the id', () => {
    for (const text of ['{"id":4}', '{"id":4,"method":5}', '{"id":4,"method":null}', '{"id":4,"method":["a"]}']) {
      const e = invalid(single(decodeLine(line(text))));
      assert.equal(e.code, ErrorCode.INVALID_REQUEST);
      assert.equal(e.message, 'method must be a string');
      assert.equal(e.id, 4);
    }
  });

  it('a response object from the client is recognised and ignored', () => {
    assert.deepEqual(single(decodeLine(line('{"id":1,"result":5}'))), { kind: 'response' });
    assert.deepEqual(single(decodeLine(line('{"id":1,"error":{"code":1,"message":"x"}}'))), { kind: 'response' });
  });

  it('non-object values are -32600 "request object must be a dictionary"', () => {
    for (const text of ['5', '"str"', 'null', 'true']) {
      const e = invalid(single(decodeLine(line(text))));
      assert.deepEqual(e, { id: null, code: ErrorCode.INVALID_REQUEST, message: 'request object must be a dictionary' });
    }
  });

  it('invalid JSON is -32700 "invalid JSON"', () => {
    for (const text of ['{', '{"id":1,"method":"m"', 'garbage', '', '   ', '{"id":1}}', "{'id':1}"]) {
      const msg = decodeLine(line(text));
      assert.equal(msg.kind, 'unparsable', `for ${JSON.stringify(text)}`);
      const err = (msg as { error: RpcError }).error;
      assert.equal(err.code, ErrorCode.PARSE_ERROR);
      assert.equal(err.message, 'invalid JSON');
    }
  });

  it('invalid UTF-8 is -32700 "messages must be encoded in UTF-8", even if the rest would be JSON', () => {
    const bytes = Buffer.concat([line('{"id":1,"method":"'), Buffer.from([0xc3, 0x28]), line('"}')]);
    const msg = decodeLine(bytes);
    assert.equal(msg.kind, 'unparsable');
    const err = (msg as { error: RpcError }).error;
    assert.equal(err.code, ErrorCode.PARSE_ERROR);
    assert.equal(err.message, 'messages must be encoded in UTF-8');
    assert.equal(decodeLine(Buffer.from([0xff, 0xfe, 0x00])).kind, 'unparsable');
  });

  it('valid multi-byte UTF-8 is fine', () => {
    const item = single(decodeLine(line('{"id":"ключ-🔑","method":"server.version","params":["Ünïcødé"]}')));
    assert.deepEqual(item, { kind: 'request', id: 'ключ-🔑', method: 'server.version', params: ['Ünïcødé'] });
  });

  it('tolerates surrounding whitespace', () => {
    assert.equal(single(decodeLine(line('  {"id":1,"method":"m"}  '))).kind, 'request');
  });
});

describe('decodeLine: batches', () => {
  it('an empty batch is a single -32600 "batch is empty"', () => {
    const e = invalid(single(decodeLine(line('[]'))));
    assert.deepEqual(e, { id: null, code: ErrorCode.INVALID_REQUEST, message: 'batch is empty' });
  });

  it('classifies every item of a batch in order, valid and invalid mixed', () => {
    const msg = decodeLine(
      line('[{"id":1,"method":"a"},5,{"id":"x","method":"b","params":{"k":1}},{"method":"c"},{"id":2},{"id":3,"result":null},[]]'),
    );
    assert.equal(msg.kind, 'batch');
    const items = (msg as { items: readonly IncomingItem[] }).items;
    assert.equal(items.length, 7);
    assert.deepEqual(items[0], { kind: 'request', id: 1, method: 'a', params: [] });
    assert.deepEqual(invalid(items[1]!), { id: null, code: -32600, message: 'request object must be a dictionary' });
    assert.deepEqual(items[2], { kind: 'request', id: 'x', method: 'b', params: { k: 1 } });
    assert.deepEqual(items[3], { kind: 'notification', method: 'c', params: [] });
    assert.deepEqual(invalid(items[4]!), { id: 2, code: -32600, message: 'method must be a string' });
    assert.deepEqual(items[5], { kind: 'response' });
    // A nested array is not a request object.
    assert.deepEqual(invalid(items[6]!), { id: null, code: -32600, message: 'request object must be a dictionary' });
  });

  it('a batch of one is still a batch', () => {
    const msg = decodeLine(line('[{"id":1,"method":"a"}]'));
    assert.equal(msg.kind, 'batch');
    assert.equal((msg as { items: readonly IncomingItem[] }).items.length, 1);
  });

  it('classify works on already parsed values the same way', () => {
    assert.equal(classify([]).kind, 'single');
    assert.equal(classify([{ id: 1, method: 'a' }]).kind, 'batch');
    assert.deepEqual(classify({ id: 1, method: 'a', params: [1] }), {
      kind: 'single',
      item: { kind: 'request', id: 1, method: 'a', params: [1] },
    });
  });
});

describe('responses', () => {
  it('result responses are 2.0-shaped and keep the id as given', () => {
    assert.deepEqual(resultResponse(1, 'x'), { jsonrpc: '2.0', id: 1, result: 'x' });
    assert.deepEqual(resultResponse('1', [1]), { jsonrpc: '2.0', id: '1', result: [1] });
    assert.equal(JSON.stringify(resultResponse('1', null)), '{"jsonrpc":"2.0","id":"1","result":null}');
  });

  it('an undefined result is sent as null (a result member must be present)', () => {
    assert.equal(JSON.stringify(resultResponse(5, undefined)), '{"jsonrpc":"2.0","id":5,"result":null}');
  });

  it('error responses carry code and message, and data only when given', () => {
    assert.equal(
      JSON.stringify(errorResponse(null, new RpcError(-32700, 'invalid JSON'))),
      '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"invalid JSON"}}',
    );
    assert.deepEqual(errorResponse(3, new RpcError(1, 'bad', { why: 1 })), {
      jsonrpc: '2.0',
      id: 3,
      error: { code: 1, message: 'bad', data: { why: 1 } },
    });
  });

  it('notifications have no id', () => {
    const n = notification('blockchain.headers.subscribe', [{ height: 1, hex: 'ab' }]);
    assert.deepEqual(n, { jsonrpc: '2.0', method: 'blockchain.headers.subscribe', params: [{ height: 1, hex: 'ab' }] });
    assert.ok(!('id' in n));
  });

  it('RpcError.from reads an upstream error object and survives odd shapes', () => {
    const e = RpcError.from({ code: 2, message: 'daemon error: x', data: 7 });
    assert.deepEqual([e.code, e.message, e.data], [2, 'daemon error: x', 7]);
    const noCode = RpcError.from({ message: 'm' });
    assert.equal(noCode.code, ErrorCode.INTERNAL_ERROR);
    assert.equal(noCode.message, 'm');
    const noMessage = RpcError.from({ code: 5 });
    assert.equal(noMessage.code, 5);
    assert.equal(noMessage.message, '{"code":5}');
    assert.equal(RpcError.from('text').message, 'text');
    assert.equal(RpcError.from('text').code, ErrorCode.INTERNAL_ERROR);
    assert.equal(RpcError.from(null).message, 'null');
  });
});

describe('positional', () => {
  const names = ['start_height', 'count', 'cp_height'];

  it('copies positional params', () => {
    const given = [1, 2];
    const out = positional(given, names, 'blockchain.block.headers');
    assert.deepEqual(out, [1, 2]);
    out.push(3);
    assert.deepEqual(given, [1, 2], 'the caller may modify the result without touching the request');
  });

  it('puts named params in declared order', () => {
    assert.deepEqual(positional({ count: 2, start_height: 1 }, names, 'm'), [1, 2]);
    assert.deepEqual(positional({ cp_height: 9, count: 2, start_height: 1 }, names, 'm'), [1, 2, 9]);
  });

  it('leaves holes as undefined up to the last named param', () => {
    assert.deepEqual(positional({ count: 2 }, names, 'm'), [undefined, 2]);
    assert.deepEqual(positional({}, names, 'm'), []);
  });

  it('refuses unknown names with -32602 naming them', () => {
    assert.throws(
      () => positional({ start_height: 1, bogus: 2, other: 3 }, names, 'blockchain.block.headers'),
      (err: unknown) =>
        err instanceof RpcError &&
        err.code === ErrorCode.INVALID_PARAMS &&
        err.message === 'invalid request arguments: method "blockchain.block.headers" has no parameter named "bogus", "other"',
    );
  });
});
