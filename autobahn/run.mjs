#!/usr/bin/env node
// Runs the Autobahn testsuite against the library, or one half of it.
//
//   node autobahn/run.mjs echo                 the echo server alone (PORT, HOST)
//   node autobahn/run.mjs drive [URL] [AGENT]  the client driver alone against a fuzzingserver
//   node autobahn/run.mjs server               full run, server role: echo server + the suite's
//                                              fuzzingclient in Docker + check
//   node autobahn/run.mjs client               full run, client role: the suite's fuzzingserver
//                                              in Docker + driver + check
//   node autobahn/run.mjs build                only bundle server.ts and client.ts
//
// server.ts and client.ts are bundled with the library's current source by esbuild (it
// comes with tsup) into autobahn/.build/, so no prior `npm run build` is needed.
//
// Exit status: 0 the suite passed (check.mjs), 1 it did not or the run failed, 2 no verdict
// could be had (Docker missing or not running, port 9001 taken, build failed).
//
// Environment: AUTOBAHN_DOCKER (default docker), AUTOBAHN_IMAGE (default
// crossbario/autobahn-testsuite), AUTOBAHN_NETWORK (host, the default, for Linux; bridge
// for Docker Desktop), AUTOBAHN_AGENT (the client role's agent name, default volley),
// AUTOBAHN_CASE_TIMEOUT_MS (the driver's per-case bound).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main as check } from './check.mjs';

const autobahnDir = dirname(fileURLToPath(import.meta.url));
const rootDir = dirname(autobahnDir);
const buildDir = join(autobahnDir, '.build');
const reportsDir = join(autobahnDir, 'reports');
const serverBundle = join(buildDir, 'server.mjs');
const clientBundle = join(buildDir, 'client.mjs');

/** The port both configs name (fuzzingclient.json's server URL, fuzzingserver.json's url). */
const SUITE_PORT = 9001;
const DOCKER = process.env.AUTOBAHN_DOCKER || 'docker';
const IMAGE = process.env.AUTOBAHN_IMAGE || 'crossbario/autobahn-testsuite';
const NETWORK = process.env.AUTOBAHN_NETWORK || 'host';
const AGENT = process.env.AUTOBAHN_AGENT || 'volley';

const EXIT_FAIL = 1;
const EXIT_NO_VERDICT = 2;

class Stop extends Error {
  /** @param {string} message @param {number} code */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Things to undo when the run ends or is interrupted. */
const cleanups = new Set();

function log(line) {
  console.log(`autobahn: ${line}`);
}

// ---- Build -----------------------------------------------------------------------

async function build() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Stop('esbuild is missing: run `npm install` first (it comes with tsup)', EXIT_NO_VERDICT);
  }
  mkdirSync(buildDir, { recursive: true });
  try {
    await esbuild.build({
      entryPoints: { server: join(autobahnDir, 'server.ts'), client: join(autobahnDir, 'client.ts') },
      outdir: buildDir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'warning',
      absWorkingDir: rootDir,
    });
  } catch (error) {
    throw new Stop(`cannot bundle autobahn/server.ts and autobahn/client.ts: ${error.message}`, EXIT_NO_VERDICT);
  }
}

// ---- Docker ----------------------------------------------------------------------

/** Fails with exit status 2 unless a Docker engine answers. */
function requireDocker() {
  const result = spawnSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 30_000 });
  const halves =
    'Without Docker, run the halves against a suite started by other means:\n' +
    '  PORT=9001 npm run autobahn:echo                        (then: cd autobahn && wstest -m fuzzingclient -s fuzzingclient.json)\n' +
    '  npm run autobahn:drive -- ws://127.0.0.1:9001 volley   (against: cd autobahn && wstest -m fuzzingserver -s fuzzingserver.json)\n' +
    '  npm run autobahn:check                                 (judges autobahn/reports/*/index.json)';
  if (result.error && /** @type {NodeJS.ErrnoException} */ (result.error).code === 'ENOENT') {
    throw new Stop(`${DOCKER}: command not found. The suite runs in Docker (${IMAGE}): no verdict.\n${halves}`, EXIT_NO_VERDICT);
  }
  if (result.error || result.status !== 0) {
    const why = (result.stderr || result.error?.message || '').trim().split('\n')[0] || `exit status ${result.status}`;
    throw new Stop(`${DOCKER} is installed but no Docker engine answers (${why}): no verdict.\n${halves}`, EXIT_NO_VERDICT);
  }
  log(`Docker engine ${result.stdout.trim()}, image ${IMAGE}, network ${NETWORK}`);
}

function networkArgs(role) {
  if (NETWORK === 'host') return ['--network', 'host'];
  if (NETWORK === 'bridge') {
    // Docker Desktop: the container reaches the host as host.docker.internal, and the
    // host reaches the fuzzingserver through the published port.
    return role === 'server' ? ['--add-host', 'host.docker.internal:host-gateway'] : ['--publish', `${SUITE_PORT}:${SUITE_PORT}`];
  }
  throw new Stop(`AUTOBAHN_NETWORK must be "host" or "bridge", got "${NETWORK}"`, EXIT_NO_VERDICT);
}

function volumeArgs() {
  return ['--volume', `${autobahnDir}:/config:ro`, '--volume', `${reportsDir}:/reports`];
}

// ---- Processes and ports ------------------------------------------------------------

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function isListening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function requireFreePort(port) {
  if (await isListening(port)) {
    throw new Stop(`port ${port} is taken (a previous echo server or fuzzingserver still running?): stop it first`, EXIT_NO_VERDICT);
  }
}

/** Whether a WebSocket handshake to 127.0.0.1:port/getCaseCount succeeds (the fuzzingserver is ready). */
function answersWebSocket(port) {
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/getCaseCount',
      timeout: 2_000,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.once('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(true);
    });
    req.once('response', (res) => {
      res.resume();
      resolve(false);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

/** Resolves with the exit code of a child process (signals map to 128 + n as in a shell). */
function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15)));
  });
}

/** Runs a command with inherited output and resolves with its exit code. */
async function run(command, args, options = {}) {
  const child = spawn(command, args, { stdio: 'inherit', ...options });
  const done = new Promise((resolve, reject) => {
    child.once('error', reject);
    exited(child).then(resolve);
  });
  const stop = () => child.kill('SIGTERM');
  cleanups.add(stop);
  try {
    return await done;
  } finally {
    cleanups.delete(stop);
  }
}

/** Starts the echo server; resolves once it printed its listening line. */
function startEcho(port, host) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', serverBundle], {
      env: { ...process.env, PORT: String(port), HOST: host },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Stop('the echo server did not report listening within 20 s', EXIT_FAIL));
    }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text) => {
      process.stdout.write(text);
      if (ready) return;
      buffered += text;
      if (/listening on/.test(buffered)) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Stop(`cannot start the echo server: ${error.message}`, EXIT_FAIL));
    });
    child.once('exit', (code) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Stop(`the echo server exited with status ${code} before listening`, EXIT_FAIL));
    });
  });
}

async function stopChild(child, graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

// ---- Reports -----------------------------------------------------------------------

/** Fails unless the suite wrote reports/<role>/index.json during this run. */
function requireFreshReport(role, since) {
  const file = join(reportsDir, role, 'index.json');
  if (!existsSync(file)) throw new Stop(`the suite wrote no report (${file} is missing)`, EXIT_FAIL);
  // The clocks of the host and of the container's file writes agree; allow a little slack.
  if (statSync(file).mtimeMs < since - 2_000) {
    throw new Stop(`the suite wrote no new report (${file} is from an earlier run)`, EXIT_FAIL);
  }
}

// ---- Commands ----------------------------------------------------------------------

async function commandEcho() {
  await build();
  const env = { ...process.env, PORT: process.env.PORT || String(SUITE_PORT) };
  return run(process.execPath, ['--enable-source-maps', serverBundle], { env });
}

async function commandDrive(args) {
  const [url = `ws://127.0.0.1:${SUITE_PORT}`, agent = AGENT, ...rest] = args;
  if (rest.length > 0) throw new Stop('usage: node autobahn/run.mjs drive [ws://host:port] [agent]', EXIT_NO_VERDICT);
  await build();
  return run(process.execPath, ['--enable-source-maps', clientBundle, url, agent]);
}

/** Server role: our echo server, the suite's fuzzingclient against it, then the check. */
async function commandServer() {
  requireDocker();
  await build();
  await requireFreePort(SUITE_PORT);
  mkdirSync(join(reportsDir, 'servers'), { recursive: true });
  const started = Date.now();

  let spec = '/config/fuzzingclient.json';
  if (NETWORK === 'bridge') {
    // Same config, with the server reached through the host's gateway.
    const config = JSON.parse(readFileSync(join(autobahnDir, 'fuzzingclient.json'), 'utf8'));
    for (const server of config.servers) server.url = server.url.replace('127.0.0.1', 'host.docker.internal');
    writeFileSync(join(reportsDir, 'fuzzingclient.bridge.json'), JSON.stringify(config, null, 2));
    spec = '/reports/fuzzingclient.bridge.json';
  }

  const echo = await startEcho(SUITE_PORT, NETWORK === 'bridge' ? '0.0.0.0' : '127.0.0.1');
  const stopEcho = () => echo.kill('SIGKILL');
  cleanups.add(stopEcho);
  let crashed = null;
  echo.once('exit', (code, signal) => {
    crashed ??= signal ?? code;
  });

  log('running the fuzzingclient (all cases take several minutes)');
  const status = await run(DOCKER, ['run', '--rm', '--init', ...networkArgs('server'), ...volumeArgs(), IMAGE, 'wstest', '-m', 'fuzzingclient', '-s', spec]);
  const crashedDuringRun = crashed;
  await stopChild(echo);
  cleanups.delete(stopEcho);

  if (crashedDuringRun !== null) log(`the echo server exited during the run (${crashedDuringRun}): that is a failure`);
  if (status !== 0) log(`the fuzzingclient exited with status ${status}`);
  requireFreshReport('servers', started);
  const verdict = check(['servers']);
  if (verdict === 0 && (crashedDuringRun !== null || status !== 0)) return EXIT_FAIL;
  return verdict;
}

/** Client role: the suite's fuzzingserver, our driver against it, then the check. */
async function commandClient() {
  requireDocker();
  await build();
  await requireFreePort(SUITE_PORT);
  mkdirSync(join(reportsDir, 'clients'), { recursive: true });
  const started = Date.now();

  log('starting the fuzzingserver');
  const name = `volley-autobahn-fuzzingserver-${process.pid}`;
  const startArgs = ['run', '--detach', '--init', '--name', name, ...networkArgs('client'), ...volumeArgs(), IMAGE];
  const status = await run(DOCKER, [...startArgs, 'wstest', '-m', 'fuzzingserver', '-s', '/config/fuzzingserver.json'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (status !== 0) throw new Stop(`cannot start the fuzzingserver container (docker run exited with ${status})`, EXIT_FAIL);
  const removeContainer = () => spawnSync(DOCKER, ['rm', '--force', name], { stdio: 'ignore' });
  cleanups.add(removeContainer);
  const showLogs = () => spawnSync(DOCKER, ['logs', '--tail', '40', name], { stdio: 'inherit' });

  try {
    const deadline = Date.now() + 60_000;
    while (!(await answersWebSocket(SUITE_PORT))) {
      const running = spawnSync(DOCKER, ['inspect', '--format', '{{.State.Running}}', name], { encoding: 'utf8' });
      if (running.stdout.trim() !== 'true') {
        showLogs();
        throw new Stop('the fuzzingserver container stopped before it answered', EXIT_FAIL);
      }
      if (Date.now() > deadline) {
        showLogs();
        throw new Stop(`the fuzzingserver did not answer on port ${SUITE_PORT} within 60 s`, EXIT_FAIL);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    log(`the fuzzingserver answers on ws://127.0.0.1:${SUITE_PORT}; running the driver as agent "${AGENT}"`);
    const driver = await run(process.execPath, ['--enable-source-maps', clientBundle, `ws://127.0.0.1:${SUITE_PORT}`, AGENT]);
    if (driver !== 0) {
      log(`the driver exited with status ${driver}; last lines of the fuzzingserver:`);
      showLogs();
    }
    requireFreshReport('clients', started);
    const verdict = check(['clients']);
    return verdict === 0 && driver !== 0 ? EXIT_FAIL : verdict;
  } finally {
    removeContainer();
    cleanups.delete(removeContainer);
  }
}

const USAGE = 'usage: node autobahn/run.mjs echo | drive [URL] [AGENT] | server | client | build';

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case 'echo':
      return commandEcho();
    case 'drive':
      return commandDrive(args);
    case 'server':
      return commandServer();
    case 'client':
      return commandClient();
    case 'build':
      await build();
      log(`bundled ${serverBundle} and ${clientBundle}`);
      return 0;
    default:
      console.error(USAGE);
      return EXIT_NO_VERDICT;
  }
}

function cleanup() {
  for (const undo of [...cleanups].reverse()) {
    try {
      undo();
    } catch {
      // Best effort: the run is ending anyway.
    }
  }
  cleanups.clear();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    if (cleanups.size > 0) {
      log(`interrupted (${signal}): stopping what the run started`);
      cleanup();
    }
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    cleanup();
    process.exitCode = code;
  },
  (error) => {
    cleanup();
    if (error instanceof Stop) {
      console.error(`autobahn: ${error.message}`);
      process.exitCode = error.code;
    } else {
      console.error(error);
      process.exitCode = EXIT_FAIL;
    }
  },
);
