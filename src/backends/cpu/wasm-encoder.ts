// A minimal WebAssembly binary writer: just what the SIMD kernels need.

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export function s32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(s: string): number[] {
  return [...u32(s.length), ...[...s].map((c) => c.charCodeAt(0))];
}

function section(id: number, body: number[]): number[] {
  return [id, ...u32(body.length), ...body];
}

/** Instruction bytes; SIMD ops take the 0xfd prefix and a LEB opcode. */
export const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: (d: number) => [0x0c, ...u32(d)], brIf: (d: number) => [0x0d, ...u32(d)],
  localGet: (i: number) => [0x20, ...u32(i)], localSet: (i: number) => [0x21, ...u32(i)],
  localTee: (i: number) => [0x22, ...u32(i)], if: [0x04, 0x40], else: [0x05],
  i32Load: [0x28, 2, 0], i32Const: (v: number) => [0x41, ...s32(v)], i32Add: [0x6a], i32Sub: [0x6b], i32Mul: [0x6c], i32DivS: [0x6d], i32Shl: [0x74], i32Or: [0x72],
  i32GeU: [0x4f], i32GeS: [0x4e], i32LtS: [0x48], i32Eqz: [0x45],
  f32Const: (v: number) => [0x43, ...f32Bytes(v)], f32Load: [0x2a, 2, 0], f32Store: [0x38, 2, 0], i32Store: [0x36, 2, 0],
  f32Add: [0x92], f32Div: [0x95], f32Gt: [0x5e], f32Ne: [0x5c], f32FromI32: [0xb2],
  simd: (code: number, ...imm: number[]) => [0xfd, ...u32(code), ...imm],
  /** bulk memory (dst, src, bytes) and (dst, byte, bytes) */
  memoryCopy: [0xfc, 0x0a, 0x00, 0x00], memoryFill: [0xfc, 0x0b, 0x00],
};

/** v128 constant of four equal 32-bit lanes. */
export function v128Const(bits: number): number[] {
  const b = new Uint8Array(16);
  const view = new DataView(b.buffer);
  for (let i = 0; i < 4; i++) view.setUint32(i * 4, bits >>> 0, true);
  return op.simd(0x0c, ...b);
}

function f32Bytes(v: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return [...b];
}

/** counter = 0; while (counter < limit) { body; counter++ } (signed compare, locals only). */
export function forRange(counter: number, limit: number, body: number[]): number[] {
  return [
    ...op.i32Const(0), ...op.localSet(counter),
    ...op.block, ...op.loop,
    ...op.localGet(counter), ...op.localGet(limit), ...op.i32GeS, ...op.brIf(1),
    ...body,
    ...op.localGet(counter), ...op.i32Const(1), ...op.i32Add, ...op.localSet(counter),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

/** v = 0; while (v < limit) { body; v += step } (unsigned compare; limit is any i32 expression). */
export function forUp(v: number, limit: number[], step: number, body: number[]): number[] {
  return [
    ...op.i32Const(0), ...op.localSet(v),
    ...op.block, ...op.loop,
    ...op.localGet(v), ...limit, ...op.i32GeU, ...op.brIf(1),
    ...body,
    ...op.localGet(v), ...op.i32Const(step), ...op.i32Add, ...op.localSet(v),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

/** Compiles a one-function kernel module against the shared heap. */
export function instantiateKernel(params: number[], locals: number[], body: number[], memory: WebAssembly.Memory): (...args: number[]) => void {
  const module = new WebAssembly.Module(kernelModule(params, locals, body));
  return new WebAssembly.Instance(module, { e: { m: memory } }).exports['k'] as (...args: number[]) => void;
}


/** A module importing memory "e"."m" and exporting one function "k". */
export function kernelModule(params: number[], locals: number[], body: number[]): Uint8Array<ArrayBuffer> {
  const type = section(1, [1, 0x60, ...u32(params.length), ...params, 0]);
  const imports = section(2, [1, ...name('e'), ...name('m'), 0x02, 0x00, 1]);
  const funcs = section(3, [1, 0]);
  const exports = section(7, [1, ...name('k'), 0x00, 0]);
  const localDecl = locals.length ? [...u32(locals.length), ...locals.flatMap((t) => [1, t])] : [0];
  const fn = [...localDecl, ...body, ...op.end];
  const code = section(10, [1, ...u32(fn.length), ...fn]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...funcs, ...exports, ...code]);
}
