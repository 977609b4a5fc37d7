// Starts a real Tessera binary for the JavaScript end-to-end tests, like test/e2e/harness.py:
// a fresh database in a temporary directory, port 0, and the bound address read from the first
// line the server prints. Also a fetch-based sign-in through the login page.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const DEMO_APP =
  'arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222';
export const DEMO_REDIRECT = 'https://mywebapp.example/redirect';
export const ROOT_KEY_ID = 'AKIAE2EROOTKEY000001';
export const ROOT_SECRET = 'e2e-root-secret/abcdefghijklmnopqrstuvwxyz';
export const DEMO_PASSWORD = 'correct horse battery staple';
export const WEBAPP_ROLE = 'arn:aws:iam::123456789012:role/webapp';
export const OTHER_ROLE = 'arn:aws:iam::123456789012:role/other';
const MASTER_KEY = '00'.repeat(31) + '01';
const START_TIMEOUT_MS = 30_000;

// Headless Chromium with a fresh profile in a temporary directory; `close()` ends both.
// `args`: extra Chromium switches (tls_page.mjs pins a test certificate).
export async function launchChromium({ viewport = { width: 800, height: 640 }, args = [] } = {}) {
  const executablePath = process.env.TS_CHROMIUM ?? '/usr/bin/chromium';
  // Installed by `scripts/install-deps.sh --test`: its absence is a failure, not a skip.
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: run scripts/install-deps.sh --test`);
  }
  const { chromium } = await import('playwright-core');
  const userDataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
    viewport,
    timeout: 60_000,
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return context;
}

export function binary() {
  const path = process.env.TESSERA_BIN;
  if (!path) throw new Error('TESSERA_BIN is not set (run through ctest)');
  return path;
}

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// A running `tessera serve --demo` (or, with {demo: false}, a Tessera started from nothing).
// Use `await Server.start()`, then `await server.stop()`.
export class Server {
  static async start(extraArgs = [], { demo = true } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-js-'));
    const db = join(dir, 'tessera.db');
    const env = {
      ...process.env,
      TESSERA_MASTER_KEY: MASTER_KEY,
      TESSERA_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID,
      TESSERA_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET,
      TESSERA_DEMO_PASSWORD: DEMO_PASSWORD,
    };
    const logPath = join(dir, 'server.log');
    const log = createWriteStream(logPath);
    const proc = spawn(
      binary(),
      ['serve', '--listen', '127.0.0.1:0', '--db', db, ...(demo ? ['--demo'] : []), ...extraArgs],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stderr.pipe(log);
    const lines = createInterface({ input: proc.stdout });
    const first = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(''), START_TIMEOUT_MS);
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve('');
      });
    });
    lines.on('line', () => {}); // keep the pipe drained
    const m = /^Tessera listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(first);
    if (!m) {
      proc.kill('SIGKILL');
      throw new Error(`tessera did not start: ${JSON.stringify(first)}`);
    }
    const server = new Server(proc, dir, db, env, m[1], logPath);
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(server.url + '/healthz');
        if (r.status === 200) break;
      } catch {
        // not ready yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return server;
  }

  constructor(proc, dir, db, env, url, logPath) {
    this.proc = proc;
    this.dir = dir;
    this.db = db;
    this.env = env;
    this.url = url;
    this.logPath = logPath;
    this.issuer = url + '/ssoins-111111111111';
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  serverLog() {
    return readFileSync(this.logPath, 'utf8');
  }

  // Runs `tessera <args> --db <this db>`; resolves to {code, stdout, stderr}.
  tessera(...args) {
    return this.tesseraWithInput('', ...args);
  }

  // The same with `input` written to its stdin (set-password, put-identity-policy).
  tesseraWithInput(input, ...args) {
    return new Promise((resolve, reject) => {
      const p = spawn(binary(), [...args, '--db', this.db], { env: this.env });
      p.stdin.end(input);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  // Registers the principal and returns a new access key {accessKeyId, secretAccessKey}.
  async newAccessKey(principalArn) {
    let r = await this.tessera('create-principal', '--arn', principalArn);
    if (r.code !== 0) throw new Error(`create-principal: ${r.stderr}`);
    r = await this.tessera('create-access-key', '--principal-arn', principalArn);
    if (r.code !== 0) throw new Error(`create-access-key: ${r.stderr}`);
    const vars = {};
    for (const line of r.stdout.trim().split('\n')) {
      const eq = line.indexOf('=');
      vars[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return { accessKeyId: vars.AWS_ACCESS_KEY_ID, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY };
  }

  authorizeUrl(challenge, options = {}) {
    const { state = 'xyz', clientId = DEMO_APP, redirectUri = DEMO_REDIRECT } = options;
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    return `${this.url}/authorize?${q}`;
  }
}

// The hidden inputs of the login form, decoded (the page escapes & < > " ').
export function hiddenInputs(html) {
  const unescape = (s) =>
    s
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&');
  const inputs = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    inputs[unescape(m[1])] = unescape(m[2]);
  }
  return inputs;
}

// Signs in through the login page with fetch, keeping the CSRF cookie as a browser would.
// Resolves to the redirect's query parameters ({code, state, iss}).
export async function signIn(
  server,
  challenge,
  { user = 'demo', password = DEMO_PASSWORD, clientId, redirectUri } = {},
) {
  const options = {};
  if (clientId) options.clientId = clientId;
  if (redirectUri) options.redirectUri = redirectUri;
  const page = await fetch(server.authorizeUrl(challenge, options), { redirect: 'manual' });
  if (page.status !== 200) throw new Error(`login page: ${page.status}`);
  const cookies = page.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ');
  const fields = { ...hiddenInputs(await page.text()), username: user, password };
  const form = new URLSearchParams(fields);
  const post = await fetch(server.url + '/authorize', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Cookie: cookies,
      Origin: server.url,
    },
    body: form.toString(),
  });
  if (post.status !== 303) throw new Error(`sign-in: ${post.status} ${await post.text()}`);
  return Object.fromEntries(new URL(post.headers.get('location')).searchParams);
}
