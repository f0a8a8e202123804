/**
 * The package's entry points as a consumer reaches them (self-reference by name, from the
 * built dist/): `require()` (Node's require(esm), no top-level await in the graph) and
 * `import` give the same API; the types bring Node's own; source maps carry their sources.
 * scripts/consumer-check.sh does the same from a packed tarball in an empty project.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Every runtime name of every entry point. A new export is a deliberate change: add it here.
 * Limits: the main entry at most 25 names, each subpath at most 40; no name exported by two
 * subpaths (the main entry may repeat a layer's errors and the verdict helpers).
 */
const PUBLIC: Record<string, readonly string[]> = {
  '.': [
    'CallbackError', 'METRICS_CONTENT_TYPE', 'NetfilterQueueError', 'NetlinkError',
    'OPENMETRICS_CONTENT_TYPE', 'PacketError', 'PoolWorkerError', 'QueueError', 'QueueKernelError',
    'QueueOverflowError', 'QueueTimeoutError', 'RuleError', 'VerdictStateError', 'VerdictTimeoutError',
    'accept', 'acceptFlow', 'drop', 'dropFlow', 'formatMetrics', 'openQueue', 'openQueuePool', 'repeat',
    'requeue', 'stop',
  ],
  './testing': [
    'TestKernel', 'TestKitError', 'TestQueue', 'createTestQueue', 'tcpPacket', 'udpPacket',
  ],
  './packet': [
    'ChecksumError', 'ETH_P_8021AD', 'ETH_P_8021Q', 'ETH_P_IP', 'ETH_P_IPV6', 'IPPROTO_DCCP', 'IPPROTO_ICMP',
    'IPPROTO_ICMPV6', 'IPPROTO_SCTP', 'IPPROTO_TCP', 'IPPROTO_UDP', 'IPPROTO_UDPLITE', 'TCP_ACK', 'TCP_CWR',
    'TCP_ECE', 'TCP_FIN', 'TCP_PSH', 'TCP_RST', 'TCP_SYN', 'TCP_URG', 'clearInterfaceNameCache',
    'fixChecksums', 'fixIpv4HeaderChecksum', 'formatHwaddr', 'icmpTypeName', 'interfaceName', 'interfaceNames',
    'internetChecksum', 'ipProtocolName', 'ipv4HeaderChecksum', 'parseEthernetHeader', 'parseIpPacket',
    'tcpChecksum', 'tcpFlagsText', 'transportChecksum', 'transportPayload', 'udpChecksum', 'verifyChecksums',
    'vlanTag', 'withTransportPayload',
  ],
  './pcap': [
    'ARPHRD_NETLINK', 'COOKED_PACKET_INCOMING', 'COOKED_PACKET_OUTGOING', 'IP_LINKTYPES', 'LINKTYPE_ETHERNET',
    'LINKTYPE_IPV4', 'LINKTYPE_IPV6', 'LINKTYPE_LINUX_SLL', 'LINKTYPE_LINUX_SLL2', 'LINKTYPE_NETLINK',
    'LINKTYPE_RAW', 'MAX_RECORD_LENGTH', 'NETLINK_COOKED_HEADER_LENGTH', 'PCAPNG_BLOCK_EPB',
    'PCAPNG_BLOCK_IDB', 'PCAPNG_BLOCK_PB', 'PCAPNG_BLOCK_SHB', 'PCAPNG_BLOCK_SPB', 'PCAP_DEFAULT_SNAPLEN',
    'PCAP_FILE_HEADER_LENGTH', 'PCAP_MAGIC_MICROSECONDS', 'PCAP_MAGIC_NANOSECONDS',
    'PCAP_RECORD_HEADER_LENGTH', 'PcapFileWriter', 'PcapFormatError', 'PcapWriter', 'ReplayMismatchError',
    'ReplayTransport', 'decodeNetlinkCooked', 'encodeNetlinkCooked', 'ipPacketOfRecord', 'nowNs', 'readPcap',
    'readPcapFile', 'recordTransport', 'replay',
  ],
  './netlink': [
    'AttributeDecoder', 'MessageCursor', 'MessageWriter', 'NetfilterQueueError', 'NetlinkConn',
    'NetlinkDecodeError', 'NetlinkError', 'NetlinkKernelError', 'NetlinkSocketError', 'errnoName',
    'nativeTransportUnavailable', 'netlinkConstants', 'openDefaultTransport', 'openNativeTransport',
    'openSocketTransport', 'parseAttributes', 'parseErrorMessage', 'parseMessages', 'readHeader',
    'writeHeader',
  ],
  './protocol': [
    'MAX_VERDICT_PAYLOAD', 'Packet', 'PacketDecodeError', 'accept', 'acceptFlow', 'attributeName',
    'configCommandName', 'copyModeName', 'ctInfoName', 'decodeConfigMessage', 'decodeConntrack',
    'decodePacket', 'decodeVerdictMessage', 'describeField', 'describeMessage', 'drop', 'dropFlow',
    'encodeBatchVerdict', 'encodeConfigCommand', 'encodeConfigFlags', 'encodeConfigMaxLen',
    'encodeConfigParams', 'encodePacketMessage', 'encodeVerdict', 'flagNames', 'hookName',
    'messageTypeName', 'nfqueueConstants', 'normalizeVerdict', 'repeat', 'requeue', 'stop', 'tcpStateName',
    'verdictName',
  ],
  './diagnosis': [
    'diagnoseQueues', 'findQueueHolder', 'formatDiagnosis', 'kernelFeatures', 'readKernelQueueStats',
    'ruleQueues',
  ],
  './nftables': [
    'FAMILIES', 'HOOKS', 'ManagedRules', 'NftSocket', 'NftablesKernelError', 'PROTOCOLS', 'RuleError',
    'checkRuleSpec', 'checkRuleSpecs', 'compatQueueExpr', 'decodeChain', 'decodeExpr', 'decodeExprList',
    'decodeNfqueueTarget', 'decodeRule', 'decodeTable', 'defaultTableName', 'describeExpr',
    'encodeBatchBegin', 'encodeBatchEnd', 'encodeDelTable', 'encodeDumpRequest', 'encodeExpr',
    'encodeNewChain', 'encodeNewRule', 'encodeNewTable', 'findQueueRules', 'installManagedRules',
    'listRuleset', 'matchExpressions', 'nativeQueueExpr', 'nftablesConstants', 'openNftSocket',
    'parsePrefix', 'planManagedRules', 'probeQueueRuleSupport',
  ],
};

/** Names the main entry may share with a subpath: the errors and the verdict helpers. */
const MAIN_MAY_REPEAT = /Error$|^(accept|drop|repeat|stop|requeue|acceptFlow|dropFlow)$/;
const node = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });

describe('package entry points', () => {
  it("require('netfilter-queue') gives the API, without a warning", () => {
    const r = node(['-e', "const m = require('netfilter-queue'); console.log(typeof m.openQueue, typeof m.QueueError, typeof m.accept)"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function function');
    expect(r.stderr).toBe('');
  });

  it("import 'netfilter-queue' gives the same names", () => {
    const r = node(['--input-type=module', '-e', "import * as m from 'netfilter-queue'; import { createRequire } from 'node:module'; const c = createRequire(import.meta.url)('netfilter-queue'); console.log(Object.keys(m).sort().join() === Object.keys(c).sort().join())"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('true');
  });

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string>; dependencies: Record<string, string> };
  const entries = Object.entries(pkg.exports).filter(([path]) => path !== './package.json');

  it('every entry point has types and one default condition (import and require), and brings Node types', () => {
    expect(entries.map(([path]) => path)).toContain('.');
    expect(pkg.dependencies['@types/node']).toBeDefined();
    for (const [path, target] of entries) {
      expect(target, path).toEqual({ types: expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/), default: expect.stringMatching(/^\.\/dist\/.*\.js$/) });
      const t = target as { types: string };
      expect(readFileSync(join(ROOT, t.types), 'utf8'), `${t.types} needs /// <reference types="node" preserve="true" />`).toMatch(/^\/\/\/ <reference types="node"/);
    }
  });

  it('every entry point can be required', () => {
    const names = entries.map(([path]) => `netfilter-queue${path.slice(1)}`);
    const r = node(['-e', `for (const n of ${JSON.stringify(names)}) if (Object.keys(require(n)).length === 0) throw new Error(n + ' is empty')`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('each entry exports exactly its pinned names, within the size limits', () => {
    const names = (path: string): string[] => {
      const r = node(['-e', `console.log(JSON.stringify(Object.keys(require('netfilter-queue${path.slice(1)}')).sort()))`]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as string[];
    };
    expect(entries.map(([path]) => path).sort()).toEqual(Object.keys(PUBLIC).sort());
    for (const [path, pinned] of Object.entries(PUBLIC)) {
      expect(names(path), `${path}: a name was added or removed; update PUBLIC if that was meant`).toEqual([...pinned].sort());
      expect(pinned.length, path).toBeLessThanOrEqual(path === '.' ? 25 : 40);
    }
  });

  it('no name has two homes', () => {
    const home = new Map<string, string>();
    for (const [path, pinned] of Object.entries(PUBLIC)) {
      if (path === '.') continue;
      for (const n of pinned) {
        expect(home.get(n), `${n} is exported by ${home.get(n)} and ${path}`).toBeUndefined();
        home.set(n, path);
      }
    }
    const repeated = PUBLIC['.']!.filter((n) => home.has(n));
    expect(repeated.filter((n) => !MAIN_MAY_REPEAT.test(n))).toEqual([]);
  });

  it('no test hook or internal is public', () => {
    const everything = Object.values(PUBLIC).flat();
    for (const hidden of ['nativeAddonPath', 'prebuiltAddonPath', 'beginQueueMessage', 'queueMessageType', 'flagBits', 'copyModeValue', 'verdictWord', 'salvagePacketId']) {
      expect(everything).not.toContain(hidden);
    }
    const dts = readFileSync(join(ROOT, 'dist/netlink/native-transport.d.ts'), 'utf8');
    const iface = /export interface NativeTransport extends[^]*?\n}/.exec(dts)?.[0] ?? '';
    expect(iface).toMatch(/sendMany/);
    expect(iface).not.toMatch(/simulatePollError/);
  });

  it('every source map carries its sources', () => {
    const maps = readdirSync(join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const f of maps) {
      const m = JSON.parse(readFileSync(join(ROOT, 'dist', f), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      expect(m.sourcesContent?.length, f).toBe(m.sources.length);
    }
  });
});
