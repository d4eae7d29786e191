// Node-only facilities, reached at run time so the library also loads in browsers (where they
// are simply absent): no module of the library imports a Node built-in statically.
import type * as fs from 'node:fs';
import type * as fsp from 'node:fs/promises';
import type * as os from 'node:os';
import type * as path from 'node:path';
import type * as mod from 'node:module';
import type * as url from 'node:url';
import type * as zlib from 'node:zlib';
import type * as childProcess from 'node:child_process';
import type * as crypto from 'node:crypto';

interface Builtins { fs: typeof fs; 'fs/promises': typeof fsp; os: typeof os; path: typeof path; module: typeof mod; url: typeof url; zlib: typeof zlib; child_process: typeof childProcess; crypto: typeof crypto }

type NodeProcess = { getBuiltinModule?: (name: string) => unknown; env?: Record<string, string | undefined> };
const proc = (globalThis as { process?: NodeProcess }).process;

export const isNode = typeof proc?.getBuiltinModule === 'function';

/** A Node built-in module, or null outside Node. */
export function nodeBuiltin<K extends keyof Builtins>(name: K): Builtins[K] | null {
  return isNode ? (proc!.getBuiltinModule!(`node:${name}`) as Builtins[K]) : null;
}

/** The same, for code that only runs in Node (files, the CLI): outside Node a clear error. */
export function requireNode<K extends keyof Builtins>(name: K, what: string): Builtins[K] {
  const m = nodeBuiltin(name);
  if (!m) throw new Error(`${what} needs Node.js (it uses node:${name})`);
  return m;
}

/** An environment variable; undefined in browsers. */
export function env(name: string): string | undefined {
  return proc?.env?.[name];
}

let channel: { port: MessagePort; waiting: (() => void)[]; hold(on: boolean): void } | null = null;

/**
 * Resolves in a new macrotask with no delay (the event loop handles I/O, messages and due timers
 * first; a page may draw): setImmediate in Node, a MessageChannel message elsewhere.
 * setTimeout(0) would wait at least 1 ms in Node and 4 ms in a browser's nested timers.
 */
export function nextMacrotask(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  if (immediate) return new Promise((resolve) => { immediate(resolve); });
  if (!channel) {
    const { port1, port2 } = new MessageChannel(), waiting: (() => void)[] = [];
    // where a listening port keeps the process alive (Node, Deno), only while a message is due
    const own = port1 as MessagePort & { ref?: () => void; unref?: () => void };
    const hold = (on: boolean) => (on ? own.ref?.() : own.unref?.());
    port1.onmessage = () => {
      waiting.shift()?.();
      if (!waiting.length) hold(false);
    };
    channel = { port: port2, waiting, hold };
  }
  const { port, waiting, hold } = channel;
  return new Promise((resolve) => {
    waiting.push(resolve);
    hold(true);
    port.postMessage(0);
  });
}
