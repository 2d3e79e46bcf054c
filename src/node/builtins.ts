/**
 * Node modules only the client needs, loaded when first used: a process that never
 * connects out over TLS or through an agent does not load node:tls, node:http and
 * node:https (together about 4 MiB of RSS and 1 MiB of JS heap on Node.js 20, a third
 * of which is node:tls's).
 */
import { createRequire } from 'node:module';

type Tls = typeof import('node:tls');
type Http = typeof import('node:http');
type Https = typeof import('node:https');

// Built-in modules resolve the same from anywhere: any absolute path will do.
const load = (id: string): unknown => (process.getBuiltinModule?.(id) ?? createRequire('/')(id)) as unknown;

let tls: Tls | undefined;
let http: Http | undefined;
let https: Https | undefined;

export const tlsModule = (): Tls => (tls ??= load('node:tls') as Tls);
export const httpModule = (): Http => (http ??= load('node:http') as Http);
export const httpsModule = (): Https => (https ??= load('node:https') as Https);
