// Serialisation throughput: Volley's encodeFrame against ws's static Sender.frame, for
// the server role (unmasked) and the client role (masked with a fresh CSPRNG key per
// frame), on ws's ladder of sizes.
import { loadProtocol } from './lib/build.mjs';
import { prng, asciiPayload, binaryPayload, wireSize, decodeFrame } from './lib/frames.mjs';
import { measure, subjectCli } from './lib/harness.mjs';
import { loadWs } from './lib/ws.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_PING = 0x9;

const ladder = [
  { name: 'ping-5', label: '5 B ping', opcode: OP_PING, size: 5 },
  { name: 'text-20', label: '20 B text', opcode: OP_TEXT, size: 20 },
  { name: 'binary-125', label: '125 B binary', opcode: OP_BINARY, size: 125 },
  { name: 'binary-65535', label: '64 KiB (65,535 B) binary', opcode: OP_BINARY, size: 65535 },
  { name: 'binary-200k', label: '200 KiB binary', opcode: OP_BINARY, size: 200 * KiB },
  { name: 'binary-1m', label: '1 MiB binary', opcode: OP_BINARY, size: MiB },
];

const scenarios = [];
for (const role of ['server', 'client']) {
  for (const step of ladder) {
    scenarios.push({
      ...step,
      id: `${role}-${step.name}`,
      label: `${role}: ${step.label}${role === 'client' ? ', masked' : ''}`,
      // Unmasked large payloads are not copied by either side: bytes/s would only
      // measure the header, so those rows count frames.
      metric: role === 'server' || step.size <= 125 ? 'frames' : 'bytes',
      role,
    });
  }
}
// A string payload, client role only: in the server role ws's WebSocket#send hands the
// string to socket.write unencoded (through a private option Sender.frame cannot be
// given from outside), so there is no like-for-like encode step to compare.
scenarios.push({ id: 'client-string-20', label: 'client: 20 B text from a string, masked', metric: 'frames', role: 'client', opcode: OP_TEXT, size: 20, isString: true });

async function makeEncoder(scenario, contender) {
  const masked = scenario.role === 'client';
  if (contender === 'volley') {
    const { encodeFrame, randomMask, FIN } = await loadProtocol();
    const firstByte = FIN | scenario.opcode;
    return {
      impl: 'Volley encodeFrame (randomMask per frame when masked)',
      encode: masked
        ? (payload) => {
            const frame = encodeFrame(firstByte, payload, randomMask());
            return Array.isArray(frame) ? frame[0].length + frame[1].length : frame.length;
          }
        : (payload) => {
            const frame = encodeFrame(firstByte, payload, null);
            return Array.isArray(frame) ? frame[0].length + frame[1].length : frame.length;
          },
      first: (payload) => {
        const frame = encodeFrame(firstByte, payload, masked ? randomMask() : null);
        return Array.isArray(frame) ? Buffer.concat(frame) : frame;
      },
    };
  }
  const { Sender, impl } = loadWs(contender === 'ws' ? 'native' : 'js');
  // What WebSocket#send passes: Buffers are read-only (a masked frame is a fused copy
  // and mask into a new buffer); strings are converted by Sender.frame itself.
  const options = { fin: true, opcode: scenario.opcode, mask: masked, readOnly: true, rsv1: false };
  return {
    impl: `ws Sender.frame (${impl})`,
    encode: (payload) => {
      const list = Sender.frame(payload, options);
      let n = 0;
      for (let i = 0; i < list.length; i++) n += list[i].length;
      return n;
    },
    first: (payload) => Buffer.concat(Sender.frame(payload, options)),
  };
}

async function sample(scenario, contender, { quick }) {
  const next = prng(0xc0de ^ scenario.size);
  const masked = scenario.role === 'client';
  const bytes = scenario.opcode === OP_BINARY ? binaryPayload(next, scenario.size) : asciiPayload(next, scenario.size);
  const payload = scenario.isString ? bytes.toString('latin1') : bytes;
  const { impl, encode, first } = await makeEncoder(scenario, contender);

  // Check the encoder's output once: right header, right payload after unmasking.
  const decoded = decodeFrame(first(payload));
  if (!decoded.fin || decoded.opcode !== scenario.opcode || decoded.masked !== masked || !decoded.payload.equals(bytes)) {
    throw new Error('encoder produced a wrong frame');
  }

  const perFrame = wireSize(scenario.size, masked);
  const count = Math.max(masked ? 64 : 1024, Math.min(100_000, Math.floor((64 * MiB) / scenario.size)));
  const expected = count * perFrame;
  let total = 0;
  const stats = measure(
    {
      prepare() {
        total = 0;
      },
      pass() {
        for (let i = 0; i < count; i++) total += encode(payload);
      },
      check() {
        if (total !== expected) throw new Error(`wrong output size ${total}, expected ${expected}`);
      },
    },
    quick,
  );
  return { ...stats, framesPerPass: count, bytesPerPass: expected, impl };
}

export const subject = {
  name: 'sender',
  title: 'Serialising: encodeFrame vs ws Sender.frame',
  note:
    'Median over runs (± half the range); MB = 10^6 bytes of frames produced. Server role: ws returns [header, payload] for every size, ' +
    'Volley copies payloads ≤ 16 KiB behind the header (one buffer, one write) and returns [header, payload] above.',
  unit: 'MB/s',
  file: new URL(import.meta.url).pathname,
  contenders: [
    { id: 'volley', label: 'Volley' },
    { id: 'ws', label: 'ws + bufferutil' },
    { id: 'ws-js', label: 'ws (JS)', env: { WS_NO_BUFFER_UTIL: '1' } },
  ],
  scenarios,
  sample,
};

await subjectCli(subject, import.meta.url);
