// SPDX-License-Identifier: MIT
/**
 * The networks the gateway can serve. Each entry is data, not code: adding a
 * chain means adding a row here, never a branch elsewhere.
 */

export type PowHash = 'sha256d' | 'scrypt';

export interface RetargetRules {
  /** Blocks between difficulty adjustments (2016 on every chain listed here). */
  readonly interval: number;
  /** The timespan the interval should take, in seconds. */
  readonly targetTimespanSeconds: number;
  /** Compact encoding of the easiest target the chain allows. */
  readonly powLimitBits: number;
  /** Regtest-style chains never change difficulty. */
  readonly noRetargeting: boolean;
  /** Testnets allow a min-difficulty block 20 minutes after the previous one. */
  readonly allowMinDifficultyBlocks: boolean;
}

export interface AddressEncoding {
  /** Base58Check version byte of pay-to-pubkey-hash addresses. */
  readonly p2pkh: number;
  /** Base58Check version bytes of pay-to-script-hash addresses; the first is the current one. */
  readonly p2sh: readonly number[];
  /** Human-readable part of bech32/bech32m segwit addresses. */
  readonly bech32Hrp: string;
}

/**
 * A block the gateway trusts without asking anyone: the chain tracker anchors
 * only on a chain that has this block at this height, and verifies every
 * header above it (proof of work, links, difficulty) itself.
 */
export interface Checkpoint {
  readonly height: number;
  /** Display-order (big-endian) hex of the block's hash. */
  readonly hash: string;
  /**
   * Cumulative chainwork up to and including this block, when known; chains
   * are weighed by work above the checkpoint, so it is informative (reported
   * as the tip's chainwork), not needed to choose between them.
   */
  readonly chainwork: bigint | null;
}

export interface Network {
  readonly name: NetworkName;
  readonly coin: 'bitcoin' | 'litecoin';
  /** Display-order (big-endian) hex of block 0's hash, as server.features reports it. */
  readonly genesisHash: string;
  /** The ports Electrum servers of this network listen on by convention. */
  readonly defaultPorts: { readonly tcp: number; readonly ssl: number };
  readonly address: AddressEncoding;
  readonly powHash: PowHash;
  readonly retarget: RetargetRules;
  /** How many headers one legacy blockchain.block.get_chunk index covers. */
  readonly chunkSize: number;
  /** Trusted blocks, lowest first; the tracker anchors on the newest (config key chain.checkpoints replaces them). */
  readonly checkpoints: readonly Checkpoint[];
}

export const NETWORK_NAMES = [
  'bitcoin',
  'testnet',
  'testnet4',
  'signet',
  'regtest',
  'litecoin',
  'litecoin-testnet',
  'litecoin-regtest',
] as const;

export type NetworkName = (typeof NETWORK_NAMES)[number];

const BITCOIN_RETARGET: RetargetRules = {
  interval: 2016,
  targetTimespanSeconds: 14 * 24 * 3600,
  powLimitBits: 0x1d00ffff,
  noRetargeting: false,
  allowMinDifficultyBlocks: false,
};

const LITECOIN_RETARGET: RetargetRules = {
  interval: 2016,
  targetTimespanSeconds: Math.round(3.5 * 24 * 3600),
  powLimitBits: 0x1e0fffff,
  noRetargeting: false,
  allowMinDifficultyBlocks: false,
};

const REGTEST_RETARGET: RetargetRules = {
  interval: 2016,
  targetTimespanSeconds: 14 * 24 * 3600,
  powLimitBits: 0x207fffff,
  noRetargeting: true,
  allowMinDifficultyBlocks: true,
};

/** Block 0 as a checkpoint: its chainwork is the work of its bits (2^256 / (target + 1)). */
function genesis(hash: string, chainwork: bigint): Checkpoint {
  return { height: 0, hash, chainwork };
}

/**
 * Bitcoin block 953,567, the last block of retarget period 472: the newest
 * entry of Electrum's chains/mainnet/checkpoints.json (spesmilo/electrum
 * 9ebabef38, July 2026; entry i is the hash of block (i+1)*2016-1 and the
 * target of period i). Its chainwork is the sum over the 473 periods of
 * 2016 * floor(2^256 / (target + 1)), computed from that file (the same sum
 * Bitcoin Core's chainwork is). The same sum over the file's first 371
 * entries gives the previous checkpoint's (block 747,935, Electrum 4.3.4)
 * exactly, and its entry 370 is that block's hash: the files agree.
 */
const BITCOIN_CHECKPOINT: Checkpoint = {
  height: 953_567,
  hash: '00000000000000000001b315e72169bef4867bf780527aa97c625ee9c001dc5d',
  chainwork: 0x13326be0a0e466ddac6cdd200n,
};

/**
 * Testnet3 block 5,011,775 (period 2,485's last block), the newest entry of
 * Electrum's chains/testnet/checkpoints.json (same commit; its entry 1,159 is
 * the previous checkpoint, block 2,338,559). That file carries no targets
 * (all 0: testnet's min-difficulty blocks make them meaningless), so the
 * chainwork is not known; chains are weighed by the work above it.
 */
const TESTNET_CHECKPOINT: Checkpoint = {
  height: 5_011_775,
  hash: '000000000000041b511bf0b926371d5045f70bbc30d36b66f1c84ed30d765886',
  chainwork: null,
};

export const NETWORKS: Readonly<Record<NetworkName, Network>> = {
  bitcoin: {
    name: 'bitcoin',
    coin: 'bitcoin',
    genesisHash: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
    defaultPorts: { tcp: 50001, ssl: 50002 },
    address: { p2pkh: 0x00, p2sh: [0x05], bech32Hrp: 'bc' },
    powHash: 'sha256d',
    retarget: BITCOIN_RETARGET,
    chunkSize: 2016,
    checkpoints: [genesis('000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f', 0x100010001n), BITCOIN_CHECKPOINT],
  },
  testnet: {
    name: 'testnet',
    coin: 'bitcoin',
    genesisHash: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
    defaultPorts: { tcp: 51001, ssl: 51002 },
    address: { p2pkh: 0x6f, p2sh: [0xc4], bech32Hrp: 'tb' },
    powHash: 'sha256d',
    retarget: { ...BITCOIN_RETARGET, allowMinDifficultyBlocks: true },
    chunkSize: 2016,
    checkpoints: [genesis('000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943', 0x100010001n), TESTNET_CHECKPOINT],
  },
  testnet4: {
    name: 'testnet4',
    coin: 'bitcoin',
    genesisHash: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043',
    defaultPorts: { tcp: 51001, ssl: 51002 },
    address: { p2pkh: 0x6f, p2sh: [0xc4], bech32Hrp: 'tb' },
    powHash: 'sha256d',
    retarget: { ...BITCOIN_RETARGET, allowMinDifficultyBlocks: true },
    chunkSize: 2016,
    checkpoints: [genesis('00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043', 0x100010001n)],
  },
  signet: {
    name: 'signet',
    coin: 'bitcoin',
    genesisHash: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
    defaultPorts: { tcp: 53001, ssl: 53002 },
    address: { p2pkh: 0x6f, p2sh: [0xc4], bech32Hrp: 'tb' },
    powHash: 'sha256d',
    retarget: { ...BITCOIN_RETARGET, powLimitBits: 0x1e0377ae },
    chunkSize: 2016,
    checkpoints: [genesis('00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6', 0x49d414n)],
  },
  regtest: {
    name: 'regtest',
    coin: 'bitcoin',
    genesisHash: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
    defaultPorts: { tcp: 50001, ssl: 50002 },
    address: { p2pkh: 0x6f, p2sh: [0xc4], bech32Hrp: 'bcrt' },
    powHash: 'sha256d',
    retarget: REGTEST_RETARGET,
    chunkSize: 2016,
    checkpoints: [genesis('0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206', 2n)],
  },
  litecoin: {
    name: 'litecoin',
    coin: 'litecoin',
    genesisHash: '12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2',
    defaultPorts: { tcp: 50001, ssl: 50002 },
    address: { p2pkh: 0x30, p2sh: [0x32, 0x05], bech32Hrp: 'ltc' },
    powHash: 'scrypt',
    retarget: LITECOIN_RETARGET,
    chunkSize: 2016,
    checkpoints: [genesis('12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2', 0x100010n)],
  },
  'litecoin-testnet': {
    name: 'litecoin-testnet',
    coin: 'litecoin',
    genesisHash: '4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0',
    defaultPorts: { tcp: 51001, ssl: 51002 },
    address: { p2pkh: 0x6f, p2sh: [0x3a, 0xc4], bech32Hrp: 'tltc' },
    powHash: 'scrypt',
    retarget: { ...LITECOIN_RETARGET, allowMinDifficultyBlocks: true },
    chunkSize: 2016,
    checkpoints: [genesis('4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0', 0x100010n)],
  },
  'litecoin-regtest': {
    name: 'litecoin-regtest',
    coin: 'litecoin',
    genesisHash: '530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9',
    defaultPorts: { tcp: 50001, ssl: 50002 },
    address: { p2pkh: 0x6f, p2sh: [0x3a, 0xc4], bech32Hrp: 'rltc' },
    powHash: 'scrypt',
    retarget: { ...REGTEST_RETARGET, targetTimespanSeconds: LITECOIN_RETARGET.targetTimespanSeconds },
    chunkSize: 2016,
    checkpoints: [genesis('530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9', 2n)],
  },
};

export function isNetworkName(name: string): name is NetworkName {
  return (NETWORK_NAMES as readonly string[]).includes(name);
}

export function networkByName(name: string): Network {
  if (!isNetworkName(name)) {
    throw new Error(`unknown network "${name}"; expected one of ${NETWORK_NAMES.join(', ')}`);
  }
  return NETWORKS[name];
}
