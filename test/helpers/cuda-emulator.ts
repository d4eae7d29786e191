// Runs the CUDA backend's generated kernels on the CPU, to check their arithmetic and indexing
// without a GPU: each kernel's CUDA C is compiled by g++ against a small shim (a block's CUDA
// threads as fibers on one host thread, so __syncthreads is a barrier), and a stand-in for
// CudaRuntime moves buffers in and out of the compiled program.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelSource } from '../../src/backends/cuda/kernels.js';

const SHIM = readFileSync(fileURLToPath(new URL('../../../test/fixtures/cuda-shim.h', import.meta.url)), 'utf8');

export const emulatorAvailable = spawnSync('g++', ['--version'], { stdio: 'ignore' }).status === 0;

/** argument list of `extern "C" __global__ void name(const Md md, ...)` */
function parameters(src: KernelSource): { type: string; elemBytes: number }[] {
  const m = new RegExp(`void ${src.name}\\(const Md md, ([^)]*)\\)`).exec(src.source);
  if (!m) throw new Error(`no signature for ${src.name}`);
  return m[1]!.split(',').map((a) => {
    const type = a.trim().replace(/\s*\w+$/, '').replace(/^const\s+/, '').replace(/\*$/, '').trim();
    return { type, elemBytes: type === 'unsigned char' ? 1 : 4 };
  });
}

function harness(src: KernelSource): string {
  const params = parameters(src);
  return `${SHIM}
${src.source.replace('extern "C" ', '')}
static Md md;
static std::vector<std::vector<char>> bufs;
static int which[${params.length}];
static void run_thread(unsigned) { ${src.name}(md, ${params.map((p, i) => `(${p.type}*)bufs[which[${i}]].data()`).join(', ')}); }
int main(int argc, char** argv) {
  FILE* f = std::fopen(argv[1], "rb");
  int metaLen, grid, block, nbuf;
  std::fread(&metaLen, 4, 1, f); std::memset(&md, 0, sizeof md); std::fread(md.v, 4, metaLen, f);
  std::fread(&grid, 4, 1, f); std::fread(&block, 4, 1, f); std::fread(&nbuf, 4, 1, f);
  bufs.resize(nbuf);
  for (auto& b : bufs) { int n; std::fread(&n, 4, 1, f); b.resize(n + 16); std::fread(b.data(), 1, n, f); }
  std::fread(which, 4, ${params.length}, f);
  std::fclose(f);
  blockDim = { (unsigned)block, 1, 1 };
  for (int g = 0; g < grid; g++) {
    blockIdx = { (unsigned)g, 0, 0 };
    tessera_fibers::run_block((unsigned)block, run_thread);
  }
  f = std::fopen(argv[2], "wb");
  for (auto& b : bufs) std::fwrite(b.data(), 1, b.size() - 16, f);
  std::fclose(f);
  return 0;
}`;
}

/** Stands in for CudaRuntime in src/backends/cuda/launch.ts: memory is host buffers by fake address. */
export class EmulatedRuntime {
  private readonly memory = new Map<bigint, Uint8Array>();
  private next = 1n << 32n;
  private readonly dir = join(tmpdir(), 'tessera-cuda-emulator');
  launches = 0;

  constructor() { mkdirSync(this.dir, { recursive: true }); }

  alloc(bytes: number): bigint {
    const p = this.next;
    this.next += 1n << 32n;
    this.memory.set(p, new Uint8Array(bytes));
    return p;
  }
  release(ptr: bigint): void { this.memory.delete(ptr); }
  bytes(ptr: bigint): Uint8Array { return this.memory.get(ptr)!; }

  kernel(_key: string, make: () => KernelSource): KernelSource & { exe: string } {
    const src = make();
    const code = harness(src);
    const exe = join(this.dir, createHash('sha256').update(code).digest('hex').slice(0, 24));
    try {
      readFileSync(exe);
    } catch {
      writeFileSync(`${exe}.cpp`, code);
      const r = spawnSync('g++', ['-O1', '-w', '-o', exe, `${exe}.cpp`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`g++ failed on ${exe}.cpp:\n${r.stderr.slice(0, 3000)}`);
    }
    return { ...src, exe };
  }

  launch(k: KernelSource & { exe: string }, meta: ArrayLike<number>, pointers: readonly bigint[], grid: [number, number, number], block: [number, number, number] = [256, 1, 1]): void {
    this.launches++;
    const distinct = [...new Set(pointers)];
    const ints = (xs: ArrayLike<number>) => Buffer.from(Int32Array.from(xs).buffer);
    const parts = [ints([meta.length]), ints(meta), ints([grid[0], block[0], distinct.length])];
    for (const p of distinct) { const b = this.memory.get(p)!; parts.push(ints([b.length]), Buffer.from(b)); }
    parts.push(ints(pointers.map((p) => distinct.indexOf(p))));
    const input = join(this.dir, `in-${process.pid}`), output = join(this.dir, `out-${process.pid}`);
    writeFileSync(input, Buffer.concat(parts));
    const r = spawnSync(k.exe, [input, output], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kernel ${k.name} failed: ${r.stderr}`);
    const back = readFileSync(output);
    let at = 0;
    for (const p of distinct) { const b = this.memory.get(p)!; b.set(back.subarray(at, at + b.length)); at += b.length; }
  }
}
