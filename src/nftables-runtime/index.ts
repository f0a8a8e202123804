/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/nftables`: nf_tables in TypeScript. The pure codecs (`src/nftables/`)
 * and the socket that speaks them: batches, dumps, and the whole ruleset in one call.
 */
export * from '../nftables/index.js';
export { NftSocket, openNftSocket, listRuleset, type NftSocketOptions } from './nft-socket.js';
export { ManagedRules, installManagedRules, probeQueueRuleSupport, defaultTableName, type QueueRuleSupport, type ManagedRulesOptions, type BackendChoice } from './managed-rules.js';
