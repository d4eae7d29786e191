// Turns expression trees into JavaScript source, one local per distinct subexpression.
import { isHalf } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { roundBfloat16, roundFloat16, roundHalf } from '../../core/half.js';
import { CseEmitter } from '../cse-emitter.js';

/** Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution. */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Makes a kernel function from generated source; the source may call erf and the half rounding helpers. */
export function compileKernel<K>(name: string, params: string, body: string): K {
  return new Function('erf', 'roundBf16', 'roundF16', `return function ${name}(${params}) {\n${body}\n};`)(erf, roundBfloat16, roundFloat16) as K;
}

export class ExprEmitter extends CseEmitter {
  readonly params = new Set<number>();

  /** `readInput(i)` returns the JS expression that loads input i at the current index. */
  constructor(private readonly readInput: (index: number) => string) {
    super();
  }

  protected declare(name: string, _e: Expr, code: string): string {
    return `const ${name} = ${code};`;
  }

  protected code(e: Expr): string {
    switch (e.kind) {
      case 'input': return this.readInput(e.index);
      case 'param': this.params.add(e.index); return `P${e.index}`;
      case 'const': if (isHalf(e.dtype)) return `(${roundHalf(e.dtype, e.value)})`;
        return Number.isNaN(e.value) ? 'NaN' : e.value === Infinity ? 'Infinity' : e.value === -Infinity ? '(-Infinity)' : `(${e.value})`;
      case 'cast': {
        const a = this.emit(e.a);
        if (e.dtype === 'bool') return `(${a} !== 0 ? 1 : 0)`;
        if (e.dtype === 'int32') return `(${a} | 0)`;
        if (e.dtype === 'bfloat16') return `roundBf16(${a})`;
        if (e.dtype === 'float16') return `roundF16(${a})`;
        return a;
      }
      case 'where': return `(${this.emit(e.cond)} ? ${this.emit(e.a)} : ${this.emit(e.b)})`;
      case 'unary': return this.unary(e.op, this.emit(e.a), e.dtype === 'int32');
      case 'binary': return this.binary(e.op, this.emit(e.a), this.emit(e.b), e.dtype === 'int32');
    }
  }

  private unary(op: Extract<Expr, { kind: 'unary' }>['op'], a: string, int: boolean): string {
    switch (op) {
      case 'neg': return int ? `((-${a}) | 0)` : `(-${a})`;
      case 'abs': return int ? `(Math.abs(${a}) | 0)` : `Math.abs(${a})`;
      case 'sign': return `Math.sign(${a})`;
      case 'exp': return `Math.exp(${a})`;
      case 'log': return `Math.log(${a})`;
      case 'log1p': return `Math.log1p(${a})`;
      case 'sqrt': return `Math.sqrt(${a})`;
      case 'rsqrt': return `(1 / Math.sqrt(${a}))`;
      case 'recip': return `(1 / ${a})`;
      case 'sin': return `Math.sin(${a})`;
      case 'cos': return `Math.cos(${a})`;
      case 'tanh': return `Math.tanh(${a})`;
      case 'sigmoid': return `(1 / (1 + Math.exp(-${a})))`;
      case 'erf': return `erf(${a})`;
      case 'floor': return `Math.floor(${a})`;
      case 'not': return `(${a} ? 0 : 1)`;
      case 'isnan': return `(${a} !== ${a} ? 1 : 0)`;
    }
  }

  private binary(op: Extract<Expr, { kind: 'binary' }>['op'], a: string, b: string, int: boolean): string {
    switch (op) {
      case 'add': return int ? `((${a} + ${b}) | 0)` : `(${a} + ${b})`;
      case 'sub': return int ? `((${a} - ${b}) | 0)` : `(${a} - ${b})`;
      case 'mul': return int ? `Math.imul(${a}, ${b})` : `(${a} * ${b})`;
      case 'div': return `(${a} / ${b})`;
      case 'pow': return `Math.pow(${a}, ${b})`;
      // NaN wins, as in PyTorch's maximum/minimum
      case 'max': return `(${a} !== ${a} || ${a} > ${b} ? ${a} : ${b})`;
      case 'min': return `(${a} !== ${a} || ${a} < ${b} ? ${a} : ${b})`;
      case 'lt': return `(${a} < ${b} ? 1 : 0)`;
      case 'le': return `(${a} <= ${b} ? 1 : 0)`;
      case 'gt': return `(${a} > ${b} ? 1 : 0)`;
      case 'ge': return `(${a} >= ${b} ? 1 : 0)`;
      case 'eq': return `(${a} === ${b} ? 1 : 0)`;
      case 'ne': return `(${a} !== ${b} ? 1 : 0)`;
      case 'and': return `(${a} && ${b} ? 1 : 0)`;
      case 'or': return `(${a} || ${b} ? 1 : 0)`;
    }
  }
}

/** Declarations of the scalar parameters an emitted body refers to. */
export function paramDeclarations(emitter: ExprEmitter): string[] {
  return [...emitter.params].map((k) => `const P${k} = params[${k}];`);
}

export interface Pointer {
  /** prefix of the generated offset variables */
  readonly name: string;
  /** JS expression for the starting offset */
  readonly base: string;
  /** JS expressions for the stride per loop dimension */
  readonly strides: readonly string[];
}

/**
 * Nested loops over `sizes` advancing every pointer by its strides; the body sees each
 * pointer's current offset under the name returned in `at`.
 */
export function loopNest(sizes: readonly string[], pointers: readonly Pointer[], body: (at: Map<string, string>) => string[], tag = 'i'): string[] {
  const at = new Map<string, string>();
  const lines: string[] = [];
  if (sizes.length === 0) {
    for (const p of pointers) {
      lines.push(`const ${p.name}_${tag} = ${p.base};`);
      at.set(p.name, `${p.name}_${tag}`);
    }
    return ['{', ...lines, ...body(at), '}'];
  }
  let close = 0;
  sizes.forEach((size, d) => {
    const inits = pointers.map((p) => `${p.name}_${tag}${d} = ${d === 0 ? p.base : `${p.name}_${tag}${d - 1}`}`);
    const steps = pointers.map((p) => `${p.name}_${tag}${d} += ${p.strides[d]}`);
    lines.push(`for (let ${tag}${d} = 0${inits.map((s) => ', ' + s).join('')}; ${tag}${d} < ${size}; ${tag}${d}++${steps.map((s) => ', ' + s).join('')}) {`);
    close++;
  });
  for (const p of pointers) at.set(p.name, `${p.name}_${tag}${sizes.length - 1}`);
  lines.push(...body(at));
  for (let i = 0; i < close; i++) lines.push('}');
  return lines;
}
