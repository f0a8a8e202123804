// Throwaway network namespaces for kernel tests.
//
// nfnetlink_queue instances are per namespace, so kernel tests create a namespace, install
// rules in it with `ip netns exec NS iptables-legacy ...`, and start the packet-touching
// processes INSIDE it with `ip netns exec NS ...` (the `netns` option's tests instead open
// the queue from the root namespace). Children talk back through stdout JSON lines.
//
// Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and iptables-legacy. Traffic only ever
// goes to 127.0.0.1 / ::1 or to addresses on veth pairs between namespaces made here.
//
// The helpers live in test/support/netns/, one file per job; this file gathers them.

export * from './netns/exec.js';
export * from './netns/iptables.js';
export * from './netns/proc.js';
export * from './netns/namespaces.js';
export * from './netns/traffic.js';
