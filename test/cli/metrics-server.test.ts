// nfq-dump's /metrics server (src/cli/metrics-server.ts) on loopback, port 0: GET and HEAD,
// the OpenMetrics choice by Accept, the refusals, and the URL it reports for an IPv6 host.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { serveMetrics } from '../../src/cli/metrics-server.js';
import { METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from '../../src/index.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to `url` (node:http, so that HEAD replies are read as sent). */
function ask(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function start(host: string, render: (om: boolean) => string = (om) => (om ? 'om_total 1\n# EOF\n' : 'm_total 1\n')): Promise<string> {
  const { server, url } = await serveMetrics({ host, port: 0 }, render);
  servers.push(server);
  return url;
}

describe('the metrics server', () => {
  it('GET /metrics: the text, its type and length; Accept picks OpenMetrics', async () => {
    const url = await start('127.0.0.1');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const r = await ask(url);
    expect(r).toMatchObject({ status: 200, body: 'm_total 1\n' });
    expect(r.headers['content-type']).toBe(METRICS_CONTENT_TYPE);
    expect(r.headers['content-length']).toBe('10');
    const om = await ask(`${url}?x=1`, 'GET', { accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' });
    expect(om).toMatchObject({ status: 200, body: 'om_total 1\n# EOF\n' });
    expect(om.headers['content-type']).toBe(OPENMETRICS_CONTENT_TYPE);
  });

  it('HEAD /metrics: the same headers as GET, no body', async () => {
    const url = await start('127.0.0.1');
    const r = await ask(url, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(METRICS_CONTENT_TYPE);
    expect(r.headers['content-length']).toBe('10');
    expect(r.body).toBe('');
  });

  it('other methods, other paths and a failing render are refused with a reason', async () => {
    const url = await start('127.0.0.1', () => {
      throw new Error('stats are gone');
    });
    const post = await ask(url, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await ask(url.replace('/metrics', '/'))).status).toBe(404);
    expect(await ask(url)).toMatchObject({ status: 500, body: 'stats are gone\n' });
  });

  it('an IPv6 host is bracketed in the URL, and the URL works', async () => {
    const url = await start('::1');
    expect(url).toMatch(/^http:\/\/\[::1\]:\d+\/metrics$/);
    expect(new URL(url).hostname).toBe('[::1]');
    expect(await ask(url)).toMatchObject({ status: 200, body: 'm_total 1\n' });
  });
});
