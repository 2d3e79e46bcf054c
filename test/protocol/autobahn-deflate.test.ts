/**
 * Autobahn|Testsuite categories 12 and 13 (permessage-deflate), one test per case of
 * autobahn/cases.json, reproduced without sockets between a Volley server and a Volley
 * client so that both roles are exercised: the Autobahn client's offer is negotiated by
 * the server, messages of the case's size are sliced from the case's data set (as
 * the suite's case12_x_x.py does), sent compressed, re-split on the wire into frames of
 * the case's auto-fragment size, echoed compressed and split again, then the
 * connection is closed cleanly. Each case sends fewer messages than the suite's 1,000
 * (20 up to 4 KiB, 8 up to 32 KiB, 4 above), keeping every other parameter.
 *
 * The data sets are generated stand-ins of the suite's files, with the same size,
 * type (text or binary) and kind of content: the suite's files are not distributed here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../src/protocol/connection.js';
import { PerMessageDeflate } from '../../src/protocol/deflate-codec.js';
import { acceptResponse, negotiate, type DeflateParams } from '../../src/protocol/deflate.js';
import { Opcode } from '../../src/protocol/frame.js';
import { parseExtensions } from '../../src/protocol/headers.js';
import { closePayload, decodeFrames, frame, MASK_KEY, Rsv, summarize, type EventSummary } from './helpers.js';
import { randomBytes, waitFor } from './deflate-helpers.js';

interface AutobahnCase {
  id: string;
  description: string;
}

const allCases = JSON.parse(readFileSync(new URL('../../autobahn/cases.json', import.meta.url), 'utf8')) as AutobahnCase[];
const deflateCases = allCases.filter((c) => /^1[23]\./.test(c.id));

// ---- The suite's data sets (case12_x_x.py, WS_COMPRESSION_TESTDATA) -----------------

interface DataSet {
  name: string;
  isBinary: boolean;
  size: number;
  make: (size: number) => Buffer;
}

/** Words for text-like data; `extra` adds letters outside ASCII (German). */
function prose(size: number, seed: number, words: readonly string[]): Buffer {
  const random = randomBytes(size, seed);
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const word = words[random[i % size]! % words.length]!;
    const separator = random[(i * 7) % size]! % 13 === 0 ? '.\n' : ' ';
    parts.push(word, separator);
    length += Buffer.byteLength(word) + separator.length;
  }
  const text = Buffer.from(parts.join(''));
  return text.subarray(0, size);
}

const DATA_SETS: Record<string, DataSet> = {
  json: {
    name: 'Large JSON data file (utf8, 194056 bytes)',
    isBinary: false,
    size: 194_056,
    make: (size) => {
      let text = '[';
      for (let i = 0; text.length < size; i++) {
        text += JSON.stringify({ _id: `5f${(i * 2654435761) >>> 0}`, index: i, guid: `a1b2-${i % 977}-c3d4`, isActive: i % 3 === 0, balance: `$${(i * 37.17).toFixed(2)}`, tags: ['lorem', 'ipsum', `t${i % 17}`], friends: [{ id: i % 5, name: `Friend ${i % 89}` }] }) + ',';
      }
      return Buffer.from(text.slice(0, size));
    },
  },
  bitmap: {
    name: 'Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)',
    isBinary: true,
    size: 263_222,
    make: (size) => {
      // A BMP header and palette, then 512 x 512 grey pixels: smooth shapes plus noise.
      const image = Buffer.alloc(size);
      image.write('BM', 0, 'latin1');
      image.writeUInt32LE(size, 2);
      image.writeUInt32LE(1078, 10);
      for (let i = 0; i < 256; i++) image.writeUInt32LE(i * 0x010101, 54 + i * 4);
      const noise = randomBytes(size, 12);
      for (let p = 1078; p < size; p++) {
        const x = (p - 1078) % 512;
        const y = Math.floor((p - 1078) / 512);
        image[p] = (128 + 60 * Math.sin(x / 23) * Math.cos(y / 31) + (noise[p]! & 15)) & 0xff;
      }
      return image;
    },
  },
  faust: {
    name: "Human readable text, Goethe's Faust I (German) (binary, 222218 bytes)",
    isBinary: true, // the suite sends this text file as binary messages
    size: 222_218,
    make: (size) =>
      prose(size, 13, ['Habe', 'nun,', 'ach!', 'Philosophie,', 'Juristerei', 'und', 'Medizin,', 'leider', 'auch', 'Theologie', 'durchaus', 'studiert,', 'mit', 'heißem', 'Bemühn.', 'Da', 'steh', 'ich', 'armer', 'Tor!', 'klug', 'als', 'wie', 'zuvor;', 'FAUST.', 'MEPHISTOPHELES.', 'Grün', 'des', 'Lebens', 'goldner', 'Baum.', 'Gretchen', 'Mägdlein', 'schön']),
  },
  html: {
    name: 'Large HTML file (utf8, 263527 bytes)',
    isBinary: false,
    size: 263_527,
    make: (size) => {
      let text = '<!DOCTYPE html><html><head><title>Data</title></head><body><table>';
      for (let i = 0; text.length < size; i++) {
        text += `<tr class="row-${i % 2 ? 'odd' : 'even'}"><td id="c${i}">${i}</td><td><a href="/item/${i * 31}">Item ${i % 113}</a></td><td style="width:${i % 40}px">${(i * 1.7).toFixed(1)}</td></tr>\n`;
      }
      return Buffer.from(text.slice(0, size));
    },
  },
  pdf: {
    name: 'A larger PDF (binary, 1042328 bytes)',
    isBinary: true,
    size: 1_042_328,
    make: (size) => {
      // Mostly compressed streams (high entropy) between short text objects.
      const random = randomBytes(size, 15);
      const out = Buffer.alloc(size);
      let offset = 0;
      for (let i = 0; offset < size; i++) {
        const head = Buffer.from(`${i} 0 obj\n<< /Length 4000 /Filter /FlateDecode >>\nstream\n`);
        offset += head.copy(out, offset);
        offset += random.copy(out, offset, offset, Math.min(size, offset + 4000));
        offset += Buffer.from('\nendstream\nendobj\n').copy(out, offset);
      }
      return out;
    },
  },
};

/** The 12.x subcategories, in the suite's order; all 13.x use the JSON data. */
const CATEGORY_12_DATA = ['json', 'bitmap', 'faust', 'html', 'pdf'] as const;

const dataCache = new Map<string, Buffer>();
function dataOf(key: string): Buffer {
  let data = dataCache.get(key);
  if (data === undefined) {
    const set = DATA_SETS[key]!;
    data = set.make(set.size);
    expect(data.length).toBe(set.size);
    dataCache.set(key, data);
  }
  return data;
}

// ---- Reading a case -------------------------------------------------------------

interface CaseParameters {
  id: string;
  count: number;
  size: number;
  /** Frame payloads are split into frames of this many octets; 0: one frame. */
  autoFragment: number;
  /** The Autobahn client's offers: [requestNoContextTakeover, requestMaxWindowBits]. */
  offers: Array<[boolean, number]>;
  data: string;
}

const DESCRIPTION =
  /^Send (\d+) compressed messages each of payload size (\d+), auto-fragment to (\d+) octets\. Use (?:default permessage-deflate offer\.|permessage-deflate client offers \(requestNoContextTakeover, requestMaxWindowBits\): \[(.*)\])$/;

function parseCase(c: AutobahnCase): CaseParameters {
  const match = DESCRIPTION.exec(c.description);
  if (match === null) throw new Error(`case ${c.id}: unexpected description ${c.description}`);
  const [, count, size, autoFragment, offerList] = match;
  const offers: Array<[boolean, number]> =
    offerList === undefined ? [[false, 0]] : [...offerList.matchAll(/\((True|False), (\d+)\)/g)].map((m) => [m[1] === 'True', Number(m[2])]);
  const [major, minor] = c.id.split('.').map(Number) as [number, number];
  return {
    id: c.id,
    count: Number(count),
    size: Number(size),
    autoFragment: Number(autoFragment),
    offers,
    data: major === 12 ? CATEGORY_12_DATA[minor - 1]! : 'json',
  };
}

/**
 * The Autobahn client's offer header (autobahn's PerMessageDeflateOffer: it accepts
 * client_no_context_takeover and client_max_window_bits, and requests the server's).
 */
function offerHeader(offers: Array<[boolean, number]>): string {
  return offers
    .map(([requestNoContextTakeover, requestMaxWindowBits]) => {
      let offer = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';
      if (requestNoContextTakeover) offer += '; server_no_context_takeover';
      if (requestMaxWindowBits !== 0) offer += `; server_max_window_bits=${requestMaxWindowBits}`;
      return offer;
    })
    .join(', ');
}

/** Fewer messages than the suite, scaled by size to keep the run short. */
function scaledCount(parameters: CaseParameters): number {
  return Math.min(parameters.count, parameters.size <= 4096 ? 20 : parameters.size <= 32_768 ? 8 : 4);
}

// ---- Running a case -------------------------------------------------------------

/** Re-splits each data message's frame payload into frames of `size` octets (as Autobahn's auto-fragmentation does). */
function refragment(bytes: Buffer, size: number, mask: Uint8Array | null): Buffer {
  const out: Buffer[] = [];
  for (const f of decodeFrames(bytes)) {
    if (size === 0 || f.opcode >= Opcode.Close || f.payload.length <= size) {
      out.push(frame(f.opcode, f.payload, { fin: f.fin, rsv: f.rsv, mask }));
      continue;
    }
    const pieces = Math.ceil(f.payload.length / size);
    for (let i = 0; i < pieces; i++) {
      const piece = f.payload.subarray(i * size, (i + 1) * size);
      out.push(frame(i === 0 ? f.opcode : Opcode.Continuation, piece, { fin: f.fin && i === pieces - 1, rsv: i === 0 ? f.rsv : 0, mask }));
    }
  }
  return Buffer.concat(out);
}

/** Waits for the next message event of `conn`, collecting events as they come. */
async function nextMessage(conn: Connection, what: string): Promise<EventSummary> {
  let event: EventSummary | undefined;
  await waitFor(() => {
    const events = summarize(conn.takeEvents());
    if (events.length > 1 || (events.length === 1 && events[0]![0] !== 'text' && events[0]![0] !== 'binary')) {
      throw new Error(`${what}: unexpected events ${JSON.stringify(events.map((e) => e[0]))}`);
    }
    event = events[0];
    return event !== undefined;
  }, what);
  return event!;
}

const sha1 = (data: Uint8Array): string => createHash('sha1').update(data).digest('hex');

async function runCase(parameters: CaseParameters): Promise<void> {
  // The server negotiates the Autobahn client's offer, with default options.
  const offer = offerHeader(parameters.offers);
  const answer = negotiate(parseExtensions(offer), true);
  expect(answer, 'the server accepts the offer').not.toBeNull();
  const [requestNoContextTakeover, requestMaxWindowBits] = parameters.offers[0]!;
  // The first offer is accepted, with what it requested.
  const expected: DeflateParams = {
    serverNoContextTakeover: requestNoContextTakeover,
    clientNoContextTakeover: true,
    serverMaxWindowBits: requestMaxWindowBits === 0 ? 15 : requestMaxWindowBits,
    clientMaxWindowBits: 15,
  };
  expect(answer!.params).toEqual(expected);
  // A Volley client making that offer agrees on the same parameters from the response.
  const clientAgreed = acceptResponse(parseExtensions(answer!.header), {
    clientNoContextTakeover: true,
    serverNoContextTakeover: requestNoContextTakeover,
    serverMaxWindowBits: requestMaxWindowBits === 0 ? undefined : requestMaxWindowBits,
  });
  expect(clientAgreed).toEqual(answer!.params);

  const server = new Connection({ role: 'server', compression: new PerMessageDeflate(answer!.params, { role: 'server' }) });
  const client = new Connection({ role: 'client', generateMask: () => MASK_KEY, compression: new PerMessageDeflate(clientAgreed!, { role: 'client' }) });
  const set = DATA_SETS[parameters.data]!;
  const data = dataOf(parameters.data);
  let pointer = 0;
  for (let i = 0; i < scaledCount(parameters); i++) {
    // case12_x_x.py sendOne: the next `size` bytes of the data, wrapping around.
    const end = (pointer + parameters.size) % data.length;
    const message = end > pointer ? data.subarray(pointer, end) : Buffer.concat([data.subarray(pointer), data.subarray(0, end)]);
    pointer = end;

    client.sendMessage(set.isBinary, message);
    await waitFor(() => client.queuedBytes === 0, 'the message to be compressed');
    server.receive(refragment(client.takeOutput(), parameters.autoFragment, MASK_KEY));
    const atServer = await nextMessage(server, `message ${i} at the server`);
    expect(atServer[0]).toBe(set.isBinary ? 'binary' : 'text');
    const received = set.isBinary ? (atServer[1] as Buffer) : Buffer.from(atServer[1] as string);
    expect(sha1(received)).toBe(sha1(message));

    server.sendMessage(set.isBinary, received);
    await waitFor(() => server.queuedBytes === 0, 'the echo to be compressed');
    client.receive(refragment(server.takeOutput(), parameters.autoFragment, null));
    const atClient = await nextMessage(client, `echo ${i} at the client`);
    const echoed = set.isBinary ? (atClient[1] as Buffer) : Buffer.from(atClient[1] as string);
    expect(echoed.length).toBe(parameters.size);
    expect(sha1(echoed)).toBe(sha1(message));
  }

  // "Clean close with normal code", initiated by the Autobahn side.
  client.close(1000);
  server.receive(client.takeOutput());
  expect(summarize(server.takeEvents())).toEqual([['closing', 1000, ''], ['end']]);
  client.receive(server.takeOutput());
  expect(summarize(client.takeEvents())).toEqual([['closing', 1000, '']]);
  expect(server.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
  expect(client.transportClosed()).toEqual({ code: 1000, reason: '', wasClean: true });
}

const parsed = deflateCases.map(parseCase);

describe('Autobahn 12 and 13 (permessage-deflate)', () => {
  it('covers every 12.x and 13.x case of autobahn/cases.json', () => {
    expect(parsed.length).toBe(216);
    expect(new Set(parsed.map((c) => c.id)).size).toBe(216);
    for (const id of allCases.map((c) => c.id).filter((id) => id.startsWith('12.') || id.startsWith('13.'))) {
      expect(parsed.some((c) => c.id === id), id).toBe(true);
    }
    // The parameters the suite varies all appear.
    expect(new Set(parsed.map((c) => c.size))).toEqual(new Set([16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072]));
    expect(new Set(parsed.map((c) => c.autoFragment))).toEqual(new Set([0, 256, 1024, 4096, 32768]));
    expect(new Set(parsed.map((c) => offerHeader(c.offers))).size).toBe(7);
  });

  it('the stand-in data sets have the sizes and types of the suite', () => {
    for (const [key, set] of Object.entries(DATA_SETS)) expect(dataOf(key).length, set.name).toBe(set.size);
    // Text sets are sliced at any byte: they must be ASCII to stay valid UTF-8.
    for (const key of ['json', 'html']) expect(dataOf(key).every((b) => b < 0x80)).toBe(true);
  });

  for (const parameters of parsed) {
    const label = `${parameters.size} B × ${scaledCount(parameters)}, auto-fragment ${parameters.autoFragment}, ${DATA_SETS[parameters.data]!.name.split(' (')[0]}, offer ${offerHeader(parameters.offers)}`;
    it(`${parameters.id}: ${label}`, { timeout: 60_000 }, () => runCase(parameters));
  }
});
