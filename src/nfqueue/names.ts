/**
 * The protocol's names, in one place: verdicts, hooks, config commands, copy modes, flags,
 * attributes and message types, for messages, the describer and nfq-dump.
 */
import * as C from './constants.js';

const VERDICTS = ['drop', 'accept', 'stolen', 'queue', 'repeat', 'stop'];
const HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING', 'BROUTING'];
const ARP_HOOKS = ['INPUT', 'OUTPUT', 'FORWARD'];
const NETDEV_HOOKS = ['INGRESS', 'EGRESS'];
const CONFIG_COMMANDS = ['NONE', 'BIND', 'UNBIND', 'PF_BIND', 'PF_UNBIND'];
const COPY_MODES = ['none', 'meta', 'packet'];
// Index 0 (UNSPEC) is left empty: an attribute of type 0 is shown as `attribute 0`.
const PACKET_ATTRIBUTES: readonly (string | undefined)[] = [
  undefined, 'PACKET_HDR', 'VERDICT_HDR', 'MARK', 'TIMESTAMP', 'IFINDEX_INDEV', 'IFINDEX_OUTDEV', 'IFINDEX_PHYSINDEV',
  'IFINDEX_PHYSOUTDEV', 'HWADDR', 'PAYLOAD', 'CT', 'CT_INFO', 'CAP_LEN', 'SKB_INFO', 'EXP', 'UID', 'GID', 'SECCTX', 'VLAN',
  'L2HDR', 'PRIORITY', 'CGROUP_CLASSID',
];
const CONFIG_ATTRIBUTES: readonly (string | undefined)[] = [undefined, 'CFG_CMD', 'CFG_PARAMS', 'CFG_QUEUE_MAXLEN', 'CFG_MASK', 'CFG_FLAGS'];
const FLAGS: Readonly<Record<number, string>> = {
  [C.NFQA_CFG_F_FAIL_OPEN]: 'FAIL_OPEN',
  [C.NFQA_CFG_F_CONNTRACK]: 'CONNTRACK',
  [C.NFQA_CFG_F_GSO]: 'GSO',
  [C.NFQA_CFG_F_UID_GID]: 'UID_GID',
  [C.NFQA_CFG_F_SECCTX]: 'SECCTX',
};
const MESSAGE_TYPES: Readonly<Record<number, string>> = {
  [C.NFQ_TYPE_PACKET]: 'PACKET',
  [C.NFQ_TYPE_VERDICT]: 'VERDICT',
  [C.NFQ_TYPE_CONFIG]: 'CONFIG',
  [C.NFQ_TYPE_VERDICT_BATCH]: 'VERDICT_BATCH',
};

/** A verdict code's name (`1` → `'accept'`), or `verdict-N`. */
export function verdictName(code: number): string {
  return VERDICTS[code] ?? `verdict-${code}`;
}

/**
 * Hook name as iptables calls the chain: PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING
 * (arptables' INPUT, OUTPUT, FORWARD for the arp family; INGRESS, EGRESS for netdev).
 */
export function hookName(hook: number, family?: number): string {
  const names = family === C.NFPROTO_ARP ? ARP_HOOKS : family === C.NFPROTO_NETDEV ? NETDEV_HOOKS : HOOKS;
  return names[hook] ?? `hook-${hook}`;
}

/** A config command's name (`1` → `'BIND'`), or `cmd N`. */
export function configCommandName(cmd: number): string {
  return CONFIG_COMMANDS[cmd] ?? `cmd ${cmd}`;
}

/** A copy mode's name (`2` → `'packet'`), or the number. */
export function copyModeName(mode: number): string {
  return COPY_MODES[mode] ?? String(mode);
}

/** Names of the flag bits set in `flags`, e.g. `['FAIL_OPEN', 'GSO']`. */
export function flagNames(flags: number): string[] {
  const out: string[] = [];
  for (let bit = 1; bit <= 0x80000000 && bit > 0; bit <<= 1) {
    if ((flags & bit) !== 0) out.push(FLAGS[bit] ?? `0x${bit.toString(16)}`);
  }
  return out;
}

/** An attribute's name (`10` → `'PAYLOAD'`; config attributes when `config`), or `attribute N`. */
export function attributeName(type: number, config = false): string {
  return (config ? CONFIG_ATTRIBUTES[type] : PACKET_ATTRIBUTES[type]) ?? `attribute ${type}`;
}

/** A queue message type's name (`0x301` → `'VERDICT'`), or undefined for other types. */
export function messageTypeName(type: number): string | undefined {
  return MESSAGE_TYPES[type];
}
