#!/usr/bin/env node
// A process that holds a queue with a managed rule until it is killed; for the kill -9 test.
//   node managed-holder.mjs QUEUE PORT   (run inside the test namespace)
// Prints {"ready":true,"table":...} once the rule is installed, then accepts every packet.
import { openQueue } from '../../../dist/index.js';

const [queue, port] = process.argv.slice(2).map(Number);
const q = await openQueue(queue, () => 'accept', { rule: { hook: 'output', protocol: 'udp', dport: port } });
process.stdout.write(JSON.stringify({ ready: true, ...q.stats().rule }) + '\n');
