#!/usr/bin/env node
// Tries one nf_tables batch (an owned table) from a process the test started with fewer
// privileges, and prints {"ok":true} or {"error":{name,code,message}}.
import { openNftSocket } from '../../../dist/nftables-runtime/index.js';

const s = openNftSocket();
try {
  await s.batch([{ op: 'newtable', table: { family: 1, name: 'nft_probe_unpriv', flags: 2 } }]);
  process.stdout.write(JSON.stringify({ ok: true }) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ error: { name: e.name, code: e.code, message: e.message } }) + '\n');
} finally {
  s.close();
}
