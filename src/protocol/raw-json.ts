// SPDX-License-Identifier: MIT
/**
 * A JSON value that is already serialized, so that an answer the gateway has written once
 * (a cached header, chunk, transaction or proof; an upstream result passed through) can be
 * written again without building and stringifying its object graph.
 *
 * The reply encoder splices `bytes` verbatim where the value goes. Anything that does not
 * know about RawJson and calls JSON.stringify on it still gets the right JSON through
 * toJSON(), only slower: a missed fast path must never produce a wrong answer.
 */
export class RawJson {
  /** `bytes` must hold exactly one valid JSON value in UTF-8, with no surrounding whitespace. */
  constructor(readonly bytes: Buffer) {}

  static fromValue(value: unknown): RawJson {
    return new RawJson(Buffer.from(JSON.stringify(value)));
  }

  /** The value itself, for code that must look inside (translation, verification). */
  value(): unknown {
    return JSON.parse(this.bytes.toString('utf8'));
  }

  toJSON(): unknown {
    return this.value();
  }
}

export function isRawJson(v: unknown): v is RawJson {
  return v instanceof RawJson;
}
