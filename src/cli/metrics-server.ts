/**
 * nfq-dump --metrics ADDR:PORT: serves the queue's counters in the Prometheus text format
 * at /metrics (OpenMetrics when the scraper's Accept header asks for it), on the address
 * given (nothing else is bound).
 */
import { createServer, type Server } from 'node:http';
import { METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from '../index.js';

/** Where to listen: a host (IPv6 without brackets) and a port (0: any free one). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Starts the server; resolves with it and the address actually bound once it listens. */
export function serveMetrics(at: ListenAddress, render: (openMetrics: boolean) => string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('nfq-dump serves only /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    // Prometheus asks for OpenMetrics first in its Accept header; curl asks for anything.
    const openMetrics = /application\/openmetrics-text/.test(req.headers.accept ?? '');
    let body: string;
    try {
      body = render(openMetrics);
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': openMetrics ? OPENMETRICS_CONTENT_TYPE : METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const a = server.address();
      const port = a !== null && typeof a === 'object' ? a.port : at.port;
      const host = at.host.includes(':') ? `[${at.host}]` : at.host;
      resolve({ server, url: `http://${host}:${port}/metrics` });
    });
  });
}
