// Writes one StableHLO function in MLIR's generic op syntax (every op as "stablehlo.name"(...)),
// which every StableHLO consumer parses: values are SSA names with a static shape and type.
import { float32Bits } from '../../core/dtype.js';

/** Element types the emitter uses: floats (halves are kept widened), indices, predicates, Philox words. */
export type ElemType = 'f32' | 'i32' | 'i1' | 'ui32';

export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: ElemType;
}

export type ReduceOp = 'add' | 'maximum' | 'minimum' | 'multiply' | 'or' | 'and';
export type Direction = 'EQ' | 'NE' | 'LT' | 'LE' | 'GT' | 'GE';

export const tensorType = (shape: readonly number[], type: ElemType) => `tensor<${[...shape, type].join('x')}>`;
const typeOf = (v: Value) => tensorType(v.shape, v.type);
const i64s = (xs: readonly number[]) => `array<i64${xs.length ? ': ' + xs.join(', ') : ''}>`;

/** A literal in MLIR's dense syntax: floats by their exact bits, so NaN, infinities and -0 survive. */
function literal(value: number, type: ElemType): string {
  switch (type) {
    case 'f32': return `0x${float32Bits(value).toString(16).toUpperCase().padStart(8, '0')}`;
    case 'i1': return value ? 'true' : 'false';
    case 'ui32': return String(value >>> 0);
    case 'i32': return String(value | 0);
  }
}

export class HloBuilder {
  private readonly body: string[] = [];
  private readonly params: Value[] = [];
  private next = 0;
  private readonly constants = new Map<string, Value>();

  private fresh(shape: readonly number[], type: ElemType): Value {
    return { name: `%v${this.next++}`, shape: [...shape], type };
  }

  /** A new function argument. */
  argument(shape: readonly number[], type: ElemType): Value {
    const v = { name: `%arg${this.params.length}`, shape: [...shape], type };
    this.params.push(v);
    return v;
  }

  /** One op; `attrs` is the text inside { } and `region` the text inside ( ) after the operands. */
  op(name: string, operands: readonly Value[], shape: readonly number[], type: ElemType, attrs = '', region = ''): Value {
    const out = this.fresh(shape, type);
    const regionText = region ? ` (${region})` : '';
    const attrText = attrs ? ` {${attrs}}` : '';
    this.body.push(`    ${out.name} = "stablehlo.${name}"(${operands.map((o) => o.name).join(', ')})${regionText}${attrText} : (${operands.map(typeOf).join(', ')}) -> ${tensorType(shape, type)}`);
    return out;
  }

  /** A splat constant (shared within the function). */
  constant(value: number, shape: readonly number[], type: ElemType): Value {
    const text = `dense<${literal(value, type)}> : ${tensorType(shape, type)}`;
    let v = this.constants.get(text);
    if (!v) {
      v = this.fresh(shape, type);
      this.body.push(`    ${v.name} = "stablehlo.constant"() {value = ${text}} : () -> ${tensorType(shape, type)}`);
      this.constants.set(text, v);
    }
    return v;
  }

  /** Elementwise op on operands of one shape. */
  map(name: string, operands: readonly Value[], type: ElemType = operands[0]!.type): Value {
    return this.op(name, operands, operands[0]!.shape, type);
  }

  compare(dir: Direction, a: Value, b: Value): Value {
    const kind = a.type === 'f32' ? 'FLOAT' : a.type === 'i32' ? 'SIGNED' : 'UNSIGNED';
    return this.op('compare', [a, b], a.shape, 'i1', `comparison_direction = #stablehlo<comparison_direction ${dir}>, compare_type = #stablehlo<comparison_type ${kind}>`);
  }

  select(cond: Value, a: Value, b: Value): Value {
    return this.op('select', [cond, a, b], a.shape, a.type);
  }

  convert(v: Value, type: ElemType): Value {
    return v.type === type ? v : this.op('convert', [v], v.shape, type);
  }

  /** Rounds float32 values to a 16-bit format and back (storage of half tensors stays widened). */
  roundTo(v: Value, half: 'f16' | 'bf16'): Value {
    const line = (from: string, to: string, src: Value) => {
      const out = this.fresh(v.shape, v.type);
      this.body.push(`    ${out.name} = "stablehlo.convert"(${src.name}) : (${from}) -> ${to}`);
      return out;
    };
    const narrow = line(typeOf(v), `tensor<${[...v.shape, half].join('x')}>`, v);
    return line(`tensor<${[...v.shape, half].join('x')}>`, typeOf(v), narrow);
  }

  reshape(v: Value, shape: readonly number[]): Value {
    return sameDims(v.shape, shape) ? v : this.op('reshape', [v], shape, v.type);
  }

  /** Broadcasts v into `shape`; dims[k] is the result axis of v's axis k. */
  broadcast(v: Value, shape: readonly number[], dims: readonly number[]): Value {
    if (sameDims(v.shape, shape) && dims.every((d, k) => d === k)) return v;
    return this.op('broadcast_in_dim', [v], shape, v.type, `broadcast_dimensions = ${i64s(dims)}`);
  }

  /** A scalar (or any value) spread over `shape` along no axes. */
  splat(v: Value, shape: readonly number[]): Value {
    return this.broadcast(this.reshape(v, []), shape, []);
  }

  transpose(v: Value, permutation: readonly number[]): Value {
    if (permutation.every((p, k) => p === k)) return v;
    return this.op('transpose', [v], permutation.map((p) => v.shape[p]!), v.type, `permutation = ${i64s(permutation)}`);
  }

  slice(v: Value, start: readonly number[], limit: readonly number[], strides: readonly number[] = start.map(() => 1)): Value {
    const shape = start.map((s, k) => Math.ceil((limit[k]! - s) / strides[k]!));
    if (sameDims(shape, v.shape)) return v;
    return this.op('slice', [v], shape, v.type, `start_indices = ${i64s(start)}, limit_indices = ${i64s(limit)}, strides = ${i64s(strides)}`);
  }

  /** Joins values of one rank along `dim`. */
  concatenate(values: readonly Value[], dim: number): Value {
    const shape = [...values[0]!.shape];
    shape[dim] = values.reduce((a, v) => a + v.shape[dim]!, 0);
    return this.op('concatenate', values, shape, values[0]!.type, `dimension = ${dim} : i64`);
  }

  iota(shape: readonly number[], dim: number, type: ElemType = 'i32'): Value {
    return this.op('iota', [], shape, type, `iota_dimension = ${dim} : i64`);
  }

  /** A reduction over `dims` with a combiner region. */
  reduce(v: Value, init: number, dims: readonly number[], combine: ReduceOp): Value {
    const shape = v.shape.filter((_, k) => !dims.includes(k));
    const scalar = tensorType([], v.type);
    const a = this.fresh([], v.type), b = this.fresh([], v.type), r = this.fresh([], v.type);
    const region = `{\n    ^bb0(${a.name}: ${scalar}, ${b.name}: ${scalar}):\n      ${r.name} = "stablehlo.${combine}"(${a.name}, ${b.name}) : (${scalar}, ${scalar}) -> ${scalar}\n      "stablehlo.return"(${r.name}) : (${scalar}) -> ()\n    }`;
    const initValue = this.constant(init, [], v.type);
    return this.op('reduce', [v, initValue], shape, v.type, `dimensions = ${i64s(dims)}`, region);
  }

  /** out = operand[flat[i...]] for a 1-D operand and an index tensor of any shape. */
  gatherFlat(operand: Value, flat: Value): Value {
    const idx = this.reshape(flat, [...flat.shape, 1]);
    return this.op('gather', [operand, idx], flat.shape, operand.type,
      `dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = ${flat.shape.length}>, indices_are_sorted = false, slice_sizes = ${i64s([1])}`);
  }

  /** operand[flat[i...]] = updates[i...] (or += with 'add') for a 1-D operand. */
  scatterFlat(operand: Value, flat: Value, updates: Value, mode: 'replace' | 'add'): Value {
    const idx = this.reshape(flat, [...flat.shape, 1]);
    const scalar = tensorType([], operand.type);
    const a = this.fresh([], operand.type), b = this.fresh([], operand.type);
    let inner: string, result: string;
    if (mode === 'add') {
      const r = this.fresh([], operand.type);
      inner = `      ${r.name} = "stablehlo.add"(${a.name}, ${b.name}) : (${scalar}, ${scalar}) -> ${scalar}\n`;
      result = r.name;
    } else {
      inner = '';
      result = b.name;
    }
    const region = `{\n    ^bb0(${a.name}: ${scalar}, ${b.name}: ${scalar}):\n${inner}      "stablehlo.return"(${result}) : (${scalar}) -> ()\n    }`;
    return this.op('scatter', [operand, idx, updates], operand.shape, operand.type,
      `scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = ${flat.shape.length}>, indices_are_sorted = false, unique_indices = false`, region);
  }

  /** Replaces operand[start : start + update.size] for 1-D values. */
  updateSlice(operand: Value, update: Value, start: number): Value {
    return this.op('dynamic_update_slice', [operand, update, this.constant(start, [], 'i32')], operand.shape, operand.type);
  }

  /** Batched product: a [B, M, K] x b [B, K, N] -> [B, M, N], at full float32 precision. */
  batchMatmul(a: Value, b: Value): Value {
    const [B, M] = a.shape as [number, number, number];
    const N = b.shape[2]!;
    return this.op('dot_general', [a, b], [B, M, N], 'f32',
      'dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>, precision_config = [#stablehlo<precision HIGHEST>, #stablehlo<precision HIGHEST>]');
  }

  reverse(v: Value, dims: readonly number[]): Value {
    return this.op('reverse', [v], v.shape, v.type, `dimensions = ${i64s(dims)}`);
  }

  /**
   * A 2-D convolution. `layout` names each operand's axes as in StableHLO's conv dimension
   * numbers, e.g. '[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]'; padding is [[low, high], [low, high]].
   */
  convolution(lhs: Value, rhs: Value, shape: readonly number[], c: { layout: string; strides: readonly number[]; padding: readonly (readonly number[])[]; lhsDilation: readonly number[]; rhsDilation: readonly number[] }): Value {
    return this.op('convolution', [lhs, rhs], shape, 'f32',
      `batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<${c.layout}>, feature_group_count = 1 : i64, lhs_dilation = ${i64s(c.lhsDilation)}, ` +
      `padding = dense<[${c.padding.map((p) => `[${p.join(', ')}]`).join(', ')}]> : tensor<2x2xi64>, precision_config = [#stablehlo<precision HIGHEST>, #stablehlo<precision HIGHEST>], ` +
      `rhs_dilation = ${i64s(c.rhsDilation)}, window_strides = ${i64s(c.strides)}`);
  }

  /** The whole module: `@main` takes the arguments made so far and returns `results`. */
  module(results: readonly Value[]): string {
    const args = this.params.map((p) => `${p.name}: ${typeOf(p)}`).join(', ');
    const types = results.map(typeOf).join(', ');
    return [
      'module @tessera {',
      `  func.func public @main(${args}) -> (${types}) {`,
      ...this.body,
      `    "func.return"(${results.map((r) => r.name).join(', ')}) : (${types}) -> ()`,
      '  }',
      '}',
      '',
    ].join('\n');
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}
