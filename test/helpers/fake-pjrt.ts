// The fake PJRT plugin (test/fixtures/fake-pjrt.c), built with cc, with the StableHLO
// interpreter installed as its compiler and runner: tessera's real PJRT glue drives it through
// koffi, and every module it emits really runs, independently of the emitter.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Program, type Tensor, parse, run } from './stablehlo-interpreter.js';
import { XlaEngine } from './xla-engine.js';

const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
const SOURCE = fileURLToPath(new URL('../../../test/fixtures/fake-pjrt.c', import.meta.url));

export const fakePjrtBuildable = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

/** Compiles the fake plugin (once per source version) and returns the .so path. */
export function buildFakePjrt(): string {
  const source = readFileSync(SOURCE);
  const dir = join(tmpdir(), 'tessera-fake-pjrt');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `fake-pjrt-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.so`);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}`;
    const r = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', partial, SOURCE], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc could not build the fake PJRT plugin: ${r.stderr}`);
    renameSync(partial, path);
  }
  return path;
}

const ARRAY: Record<number, { type: string; make: (b: ArrayBuffer) => Tensor['data'] }> = {
  1: { type: 'i1', make: (b) => new Uint8Array(b) },
  4: { type: 'i32', make: (b) => new Int32Array(b) },
  8: { type: 'ui32', make: (b) => new Uint32Array(b) },
  11: { type: 'f32', make: (b) => new Float32Array(b) },
};
const CODE: Record<string, number> = { i1: 1, i32: 4, ui32: 8, f32: 11 };

export interface FakePjrt {
  readonly path: string;
  /** live buffers, executables, events, errors; executions and compilations so far */
  stat(what: 'buffers' | 'executables' | 'events' | 'errors' | 'executions' | 'compilations'): number;
}

const installed = new Map<string, FakePjrt>();

/**
 * Loads the plugin into this process and installs its engine (idempotent): the interpreter, or
 * with TESSERA_FAKE_PJRT=xla, XLA's CPU compiler through the Python in TESSERA_XLA_PYTHON.
 */
export function installFakePjrt(path = buildFakePjrt()): FakePjrt {
  const done = installed.get(path);
  if (done) return done;
  const lib = koffi.load(path);
  const info = lib.func('void fake_pjrt_buffer_info(void *b, _Out_ void **data, _Out_ size_t *bytes, _Out_ int *type)');
  const make = lib.func('void *fake_pjrt_buffer_new(int type, const int64_t *dims, size_t ndims, const void *data, size_t bytes)');
  const stat = lib.func('long fake_pjrt_stat(const char *what)');
  const setRunner = lib.func('void fake_pjrt_set_runner(void *compile, void *run)');
  const xla = process.env['TESSERA_FAKE_PJRT'] === 'xla' ? new XlaEngine(process.env['TESSERA_XLA_PYTHON'] ?? 'python3') : null;
  const programs: { program: Program; xla: number }[] = [];
  const writeError = (at: bigint, cap: number, message: string) => {
    const bytes = Buffer.from(message.slice(0, cap - 1) + '\0');
    new Uint8Array(koffi.view(at, bytes.length)).set(bytes);
  };
  const compile = koffi.register((code: bigint, size: number, outputs: bigint, error: bigint, cap: number) => {
    try {
      const text = Buffer.from(koffi.view(code, size)).toString('utf8');
      const p = parse(text);
      new Int32Array(koffi.view(outputs, 4))[0] = p.results.length;
      programs.push({ program: p, xla: xla ? xla.compile(text) : -1 });
      return programs.length - 1;
    } catch (e) {
      writeError(error, cap, (e as Error).message);
      return -1;
    }
  }, koffi.pointer(koffi.proto('int64_t FakeCompile(void *code, size_t size, void *outputs, void *error, size_t cap)')));
  const runProgram = koffi.register((program: number | bigint, count: number, args: bigint, outs: bigint, error: bigint, cap: number) => {
    try {
      const { program: p, xla: id } = programs[Number(program)]!;
      const handles = count ? new BigUint64Array(koffi.view(args, 8 * count)) : new BigUint64Array(0);
      const inputs = [...handles].map((h, k): Tensor => {
        const data = [0n], bytes = [0], type = [0];
        info(h, data, bytes, type);
        const kind = ARRAY[type[0]!]!;
        const copy = bytes[0]! ? Buffer.from(koffi.view(data[0]!, bytes[0]!)) : Buffer.alloc(0);
        const ab = copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.length);
        return { shape: p.params[k]!.shape, type: kind.type, data: kind.make(ab) };
      });
      const results = xla ? xla.run(id, inputs) : run(p, inputs);
      const out = new BigUint64Array(koffi.view(outs, 8 * Math.max(1, results.length)));
      results.forEach((r, k) => {
        const data = r.data;
        out[k] = make(CODE[r.type]!, new BigInt64Array(r.shape.map(BigInt)), r.shape.length, data, data.byteLength) as bigint;
      });
      return 0;
    } catch (e) {
      writeError(error, cap, `interpreter: ${(e as Error).message}`);
      return 1;
    }
  }, koffi.pointer(koffi.proto('int FakeRun(int64_t program, size_t count, void *args, void *outs, void *error, size_t cap)')));
  setRunner(compile, runProgram);
  const fake: FakePjrt = { path, stat: (what) => Number(stat(what)) };
  installed.set(path, fake);
  return fake;
}
