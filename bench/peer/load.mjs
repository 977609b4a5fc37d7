#!/usr/bin/env node
// Rough load loop for the peer (a sanity tool, not the benchmark: the C++ load generator is).
// Each of --concurrency chains refreshes its own grant in a loop, always with the refresh token
// from its last response, over keep-alive connections (undici behind node's fetch).
//
//   node load.mjs --seed-file seed.json [--concurrency 32] [--seconds 5] [--warmup 1]

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'seed-file': { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
  },
});
if (!values['seed-file']) {
  process.stderr.write('usage: node load.mjs --seed-file seed.json [--concurrency 32] [--seconds 5] [--warmup 1]\n');
  process.exit(2);
}
const seed = JSON.parse(fs.readFileSync(values['seed-file'], 'utf8'));
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (seed.refresh_tokens.length < concurrency) {
  process.stderr.write(`seed file has ${seed.refresh_tokens.length} tokens, need ${concurrency}\n`);
  process.exit(2);
}

const auth = `Basic ${Buffer.from(`${encodeURIComponent(seed.client_id)}:${encodeURIComponent(seed.client_secret)}`).toString('base64')}`;
const extra = seed.extra_params ? `&${seed.extra_params}` : '';

const now = () => performance.now();
const start = now();
const measureFrom = start + warmup * 1000;
const end = measureFrom + seconds * 1000;
const latencies = [];
let ok = 0;
let failed = 0;
let firstError;

async function chain(token) {
  let current = token;
  while (now() < end) {
    const t0 = now();
    const res = await fetch(seed.token_url, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(current)}${extra}`,
    });
    const json = await res.json();
    const t1 = now();
    if (res.status !== 200 || !json.refresh_token) {
      failed += 1;
      firstError ??= `${res.status} ${JSON.stringify(json)}`;
      return; // the chain is dead (a failed refresh leaves no usable token)
    }
    current = json.refresh_token;
    if (t0 >= measureFrom) {
      ok += 1;
      latencies.push(t1 - t0);
    }
  }
}

await Promise.all(seed.refresh_tokens.slice(0, concurrency).map(chain));
latencies.sort((a, b) => a - b);
const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN);
process.stdout.write(`${ok} refreshes in ${seconds} s = ${(ok / seconds).toFixed(0)}/s, `
  + `${concurrency} chains, failed ${failed}; latency ms p50 ${q(0.5).toFixed(2)} p99 ${q(0.99).toFixed(2)} max ${q(1).toFixed(2)}\n`);
if (firstError) process.stdout.write(`first error: ${firstError}\n`);
