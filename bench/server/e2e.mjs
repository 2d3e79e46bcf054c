// End-to-end server benchmarks: Volley, ws and a raw node:net server in the same run.
//
//   npm run bench -- e2e                         # every scenario, 3 rounds
//   node bench/server/e2e.mjs [--rounds 3] [--seconds 5] [--warmup 1]
//       [--scenarios echo,large,handshakes,idle] [--contenders volley,ws,ws-js,raw]
//       [--idle 10000] [--large-inflight 2] [--quick]
//
// Every sample is two fresh processes: an echo server (servers.mjs) and a load
// generator (loadgen.mjs) on node:net that does the upgrade itself and sends pre-built
// masked frames. A round runs every scenario once per contender; the order of the
// contenders rotates from round to round. Reported per contender: the median over
// rounds, its range, the ratio of medians to ws, and the median of the per-round ratios
// (the contenders of one round ran back to back, so noise shared by a round cancels).
//
// Scenarios:
//   echo        32 B text messages, 100 connections × 16 in flight: messages/s echoed,
//               p50/p99 latency (the first message completed in each read)
//   large       1 MiB binary messages, 4 connections × --large-inflight in flight: MB/s
//               (10^6 payload bytes echoed per second); ws twice: with bufferutil and
//               with its JS fallback (WS_NO_BUFFER_UTIL=1)
//   handshakes  50 concurrent clients, each connecting, upgrading and closing in a loop
//   idle        --idle connections held open: the server's RSS and JS heap growth per
//               connection (after a forced GC), KiB, and V8's young and old generations
//
// Beside the throughput, each sample records the CPU time both processes used during the
// timed part (from /proc for the server, process.cpuUsage in the generator): a generator
// near 100 % of a core would be the bottleneck, and server CPU per operation is a
// figure a shared machine disturbs less than throughput. The server's CPU is also split
// into its kernel part (system time): the socket reads and writes every server makes.
//
// Volley is bundled from src/ with esbuild first (as the protocol benchmarks do), so a
// run measures the current source; no build needed. Markdown to stdout, progress to
// stderr, every sample to bench/results/e2e-<date>.json.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { buildVolley } from '../lib/build.mjs';
import { environment, writeResults } from '../lib/harness.mjs';
import { median, openIdle as openIdleConnections, parseArgs, runLoadgen, sleep, startServer as startServerProcess } from './common.mjs';

const args = parseArgs(process.argv.slice(2));
if (args._.length > 0) throw new Error(`unexpected argument ${args._[0]}`);
const quick = args.quick === true;
const rounds = Number(args.rounds ?? args.runs ?? 3);
const seconds = Number(args.seconds ?? (quick ? 2 : 5));
const warmup = Number(args.warmup ?? 1);
const idleConnections = Number(args.idle ?? (quick ? 2000 : 10_000));
const largeInflight = Number(args['large-inflight'] ?? 2);
/** Every child is bounded in time: a stuck process fails the run instead of hanging it. */
const CHILD_TIMEOUT_MS = Math.max(60_000, (warmup + seconds) * 1000 * 4);
const TICKS_PER_SECOND = 100; // USER_HZ, the unit of /proc/<pid>/stat times on Linux

const CONTENDERS = {
  volley: { label: 'Volley', kind: 'volley', env: {} },
  ws: { label: 'ws + bufferutil', kind: 'ws', env: {} },
  'ws-js': { label: 'ws (JS)', kind: 'ws', env: { WS_NO_BUFFER_UTIL: '1' } },
  raw: { label: 'raw node:net', kind: 'raw', env: {} },
};

const SCENARIOS = [
  {
    id: 'echo',
    label: 'Echo, 32 B text, 100 connections × 16 in flight',
    contenders: ['volley', 'ws', 'raw'],
    load: ['echo', '--connections', '100', '--inflight', '16', '--size', '32'],
    metric: 'messagesPerSecond',
    unit: 'msg/s',
    perOp: 'message',
    ops: (r) => r.messagesPerSecond,
    target: { min: 3, what: 'echo ≥ 3× ws' },
  },
  {
    id: 'large',
    label: `Echo, 1 MiB binary, 4 connections × ${largeInflight} in flight`,
    contenders: ['volley', 'ws', 'ws-js', 'raw'],
    load: ['echo', '--connections', '4', '--inflight', String(largeInflight), '--size', String(1 << 20), '--binary', '1'],
    metric: 'megabytesPerSecond',
    unit: 'MB/s',
    perOp: 'MB',
    ops: (r) => r.megabytesPerSecond,
    target: { min: 2, what: 'large messages ≥ 2× ws' },
  },
  {
    id: 'handshakes',
    label: 'Handshakes, 50 concurrent clients',
    contenders: ['volley', 'ws', 'raw'],
    load: ['handshakes', '--concurrency', '50'],
    metric: 'handshakesPerSecond',
    unit: '/s',
    perOp: 'handshake',
    ops: (r) => r.handshakesPerSecond,
    target: { min: 1.3, what: 'handshakes ≥ 1.3× ws' },
  },
  {
    id: 'idle',
    label: `Memory per idle connection, ${idleConnections.toLocaleString('en')} connections`,
    contenders: ['volley', 'ws', 'raw'],
    metric: 'rssPerConnection',
    unit: 'KiB',
    lowerIsBetter: true,
    target: { max: 0.75, what: 'memory per connection ≤ 0.75× ws' },
  },
];

/** CPU seconds a process has used so far in user mode and in the kernel, from /proc. */
function processCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: state is field 3 of stat(5), utime 14 and stime 15.
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** Starts one echo server process. */
async function startServer(contenderId, volleyModule) {
  const contender = CONTENDERS[contenderId];
  const server = await startServerProcess(contender.kind, {
    serverArgs: [String(64 * 1024 * 1024), '--report-impl'],
    env: { ...process.env, WS_NO_BUFFER_UTIL: '', ...contender.env, VOLLEY_MODULE: volleyModule },
    ms: CHILD_TIMEOUT_MS,
  });
  const impl = server.printed.find((line) => line.startsWith('impl '));
  if (impl === undefined) {
    await server.stop();
    throw new Error(`${contenderId} server did not say what it runs`);
  }
  return { ...server, impl: impl.slice('impl '.length) };
}

/** Runs the load generator once; resolves with its result and the server's CPU during the timed part. */
async function runLoad(server, loadArgs) {
  let cpuStart = null;
  let cpuEnd = null;
  let timeStart = 0;
  let timeEnd = 0;
  const result = await runLoadgen([...loadArgs, '--port', String(server.port), '--seconds', String(seconds), '--warmup', String(warmup)], {
    ms: CHILD_TIMEOUT_MS,
    onMark: (mark) => {
      if (mark === 'start') {
        cpuStart = processCpuSeconds(server.child.pid);
        timeStart = performance.now();
      } else {
        cpuEnd = processCpuSeconds(server.child.pid);
        timeEnd = performance.now();
      }
    },
  });
  const elapsed = (timeEnd - timeStart) / 1000;
  const system = cpuStart === null || cpuEnd === null ? NaN : (cpuEnd.system - cpuStart.system) / elapsed;
  const serverCpu = cpuStart === null || cpuEnd === null ? NaN : (cpuEnd.user - cpuStart.user) / elapsed + system;
  // The kernel's part (system time: socket reads and writes, TCP on loopback) is work
  // every server does for the same bytes; the user part is where the libraries differ.
  return { ...result, serverCpu, serverSystemCpu: system };
}

async function sample(scenario, contenderId, volleyModule) {
  const server = await startServer(contenderId, volleyModule);
  try {
    if (scenario.id === 'idle') {
      await sleep(300);
      const before = await server.memory();
      const close = await openIdleConnections(server.port, idleConnections, { ms: CHILD_TIMEOUT_MS });
      await sleep(1000);
      const after = await server.memory();
      await close();
      const perConnection = (key) => (after[key] - before[key]) / idleConnections / 1024;
      return {
        impl: server.impl,
        rssPerConnection: perConnection('rss'),
        heapPerConnection: perConnection('heapUsed'),
        externalPerConnection: perConnection('external'),
        youngPerConnection: perConnection('youngPhysical'),
        oldUsedPerConnection: perConnection('oldUsed'),
        oldPhysicalPerConnection: perConnection('oldPhysical'),
      };
    }
    const result = await runLoad(server, scenario.load);
    const ops = scenario.ops(result);
    return { impl: server.impl, ...result, serverCpuPerOp: (result.serverCpu / ops) * 1e6, serverSystemPerOp: (result.serverSystemCpu / ops) * 1e6 };
  } finally {
    await server.stop();
  }
}

const fmt = (value, unit) => {
  if (!Number.isFinite(value)) return '–';
  if (unit === 'KiB') return `${value.toFixed(2)} KiB`;
  if (unit === 'MB/s') return `${Math.round(value)} MB/s`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M ${unit}`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k ${unit}`;
  return `${value.toFixed(value >= 100 ? 0 : 1)} ${unit}`;
};
const pct = (value) => (Number.isFinite(value) ? `${Math.round(value * 100)} %` : '–');
const ratio = (value) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');

function summarize(scenario, samples) {
  const rows = {};
  for (const id of scenario.contenders) {
    const list = samples[id];
    const values = list.map((s) => s?.[scenario.metric]);
    rows[id] = {
      median: median(values),
      min: Math.min(...values.filter(Number.isFinite)),
      max: Math.max(...values.filter(Number.isFinite)),
      p50: median(list.map((s) => s?.p50)),
      p99: median(list.map((s) => s?.p99)),
      serverCpu: median(list.map((s) => s?.serverCpu)),
      generatorCpu: median(list.map((s) => s?.generatorCpu)),
      serverCpuPerOp: median(list.map((s) => s?.serverCpuPerOp)),
      serverSystemPerOp: median(list.map((s) => s?.serverSystemPerOp)),
      heapPerConnection: median(list.map((s) => s?.heapPerConnection)),
      youngPerConnection: median(list.map((s) => s?.youngPerConnection)),
      oldUsedPerConnection: median(list.map((s) => s?.oldUsedPerConnection)),
      oldPhysicalPerConnection: median(list.map((s) => s?.oldPhysicalPerConnection)),
      impl: list.find((s) => s !== null)?.impl,
    };
  }
  const base = rows.ws?.median;
  for (const id of scenario.contenders) {
    rows[id].ratioToWs = rows[id].median / base;
    rows[id].pairedRatioToWs = median(samples[id].map((s, round) => s?.[scenario.metric] / samples.ws[round]?.[scenario.metric]));
    rows[id].cpuPerOpRatioToWs = rows[id].serverCpuPerOp / rows.ws.serverCpuPerOp;
  }
  return rows;
}

function table(scenario, rows) {
  const out = [];
  if (scenario.id === 'idle') {
    out.push('| Server | RSS per connection (median) | range | vs ws | vs ws (paired) | JS heap used | vs ws | young generation (physical) | old generation (used / physical) |');
    out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const id of scenario.contenders) {
      const r = rows[id];
      out.push(
        `| ${CONTENDERS[id].label} | ${fmt(r.median, 'KiB')} | ${r.min.toFixed(2)}–${r.max.toFixed(2)} | ${id === 'ws' ? '' : `**${ratio(r.ratioToWs)}**`} | ${id === 'ws' ? '' : ratio(r.pairedRatioToWs)} | ` +
          `${fmt(r.heapPerConnection, 'KiB')} | ${id === 'ws' ? '' : ratio(r.heapPerConnection / rows.ws.heapPerConnection)} | ${fmt(r.youngPerConnection, 'KiB')} | ${r.oldUsedPerConnection.toFixed(2)} / ${fmt(r.oldPhysicalPerConnection, 'KiB')} |`,
      );
    }
    return out.join('\n');
  }
  const latency = scenario.id === 'echo';
  out.push(
    `| Server | ${scenario.unit} (median) | range | vs ws | vs ws (paired) |${latency ? ' p50 | p99 |' : ''} server CPU | generator CPU | server CPU µs per ${scenario.perOp} | of which kernel | vs ws |`,
  );
  out.push(`| --- | --- | --- | --- | --- |${latency ? ' --- | --- |' : ''} --- | --- | --- | --- | --- |`);
  for (const id of scenario.contenders) {
    const r = rows[id];
    const lat = latency ? ` ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms |` : '';
    out.push(
      `| ${CONTENDERS[id].label} | ${fmt(r.median, scenario.unit)} | ${fmt(r.min, '')}–${fmt(r.max, '')} | ${id === 'ws' ? '' : `**${ratio(r.ratioToWs)}**`} | ${id === 'ws' ? '' : ratio(r.pairedRatioToWs)} |${lat} ${pct(r.serverCpu)} | ${pct(r.generatorCpu)} | ${r.serverCpuPerOp.toFixed(scenario.id === 'echo' ? 2 : 0)} | ${r.serverSystemPerOp.toFixed(scenario.id === 'echo' ? 2 : 0)} | ${id === 'ws' ? '' : ratio(r.cpuPerOpRatioToWs)} |`,
    );
  }
  return out.join('\n');
}

async function main() {
  const selected = (args.scenarios ?? SCENARIOS.map((s) => s.id).join(',')).split(',');
  const only = args.contenders ? new Set(args.contenders.split(',')) : null;
  const scenarios = SCENARIOS.filter((s) => selected.includes(s.id)).map((s) => ({
    ...s,
    contenders: only === null ? s.contenders : s.contenders.filter((c) => c === 'ws' || only.has(c)),
  }));
  for (const id of selected) if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario ${id}; choose from ${SCENARIOS.map((s) => s.id).join(', ')}`);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 51) throw new Error('--rounds must be an integer from 1 to 51');

  const volleyModule = await buildVolley();
  const env = environment();
  const samples = Object.fromEntries(scenarios.map((s) => [s.id, Object.fromEntries(s.contenders.map((c) => [c, []]))]));
  const load = [];
  for (let round = 0; round < rounds; round++) {
    load.push(loadavg().map((x) => Number(x.toFixed(2))));
    for (const scenario of scenarios) {
      const order = scenario.contenders.map((_, i) => scenario.contenders[(i + round) % scenario.contenders.length]);
      const parts = [];
      for (const id of order) {
        let result = null;
        try {
          result = await sample(scenario, id, volleyModule);
        } catch (error) {
          process.stderr.write(`  ${scenario.id} ${id}: ${error.message}\n`);
        }
        samples[scenario.id][id].push(result);
        parts.push(`${id} ${result === null ? 'failed' : fmt(result[scenario.metric], scenario.unit)}`);
      }
      process.stderr.write(`round ${round + 1}/${rounds} ${scenario.id}: ${parts.join(', ')}\n`);
    }
  }

  const out = [];
  out.push(`# Volley end-to-end benchmarks\n`);
  out.push(
    `Node ${env.node} (V8 ${env.v8}), ${env.cpu} × ${env.cores}, ${env.platform}; ws ${env.ws}, bufferutil ${env.bufferutil}; ` +
      `${rounds} rounds, ${seconds} s timed after ${warmup} s warm-up per sample; load average per round ${load.map((l) => l[0]).join(', ')}.\n`,
  );
  const summaries = {};
  for (const scenario of scenarios) {
    const rows = summarize(scenario, samples[scenario.id]);
    summaries[scenario.id] = rows;
    out.push(`## ${scenario.label}\n\n${table(scenario, rows)}\n`);
    const busy = scenario.contenders.filter((id) => rows[id].generatorCpu > 0.9);
    if (busy.length > 0) out.push(`Generator above 90 % of a core with ${busy.join(', ')}: there it may be the bottleneck.\n`);
  }
  const targetLines = [];
  for (const scenario of scenarios) {
    const rows = summaries[scenario.id];
    if (!rows.volley || !rows.ws) continue;
    const { min, max, what } = scenario.target;
    for (const against of scenario.contenders.filter((c) => c === 'ws' || c === 'ws-js')) {
      const r = rows.volley.median / rows[against].median;
      const met = min !== undefined ? r >= min : r <= max;
      targetLines.push(`| ${what} | ${CONTENDERS[against].label} | ${ratio(r)} | ${met ? 'met' : '**missed**'} |`);
    }
  }
  if (targetLines.length > 0) out.push(`## Targets\n\n| Goal | Against | Volley / other (medians) | |\n| --- | --- | --- | --- |\n${targetLines.join('\n')}\n`);
  const file = writeResults('e2e', { environment: env, rounds, seconds, warmup, idleConnections, largeInflight, loadPerRound: load, scenarios: scenarios.map((s) => ({ id: s.id, label: s.label, metric: s.metric, load: s.load, summary: summaries[s.id], samples: samples[s.id] })) });
  out.push(`Results: ${file}\n`);
  process.stdout.write(out.join('\n'));
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
