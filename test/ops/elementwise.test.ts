// Every elementwise op against float64 references, with broadcasting, size-1 and empty dims.
import { describe, it } from 'node:test';
import * as tsr from '../../src/index.js';
import { type OpCase, Rng, checkOp, testDevices } from '../helpers/check.js';
import { erf, map } from '../helpers/reference.js';

const SHAPE_PAIRS: [number[], number[]][] = [
  [[3, 4], [3, 4]],
  [[2, 3, 4], [4]],
  [[4, 1], [1, 5]],
  [[1], [2, 3]],
  [[], [3]],
  [[0, 3], [3]],
];
const UNARY_SHAPES = [[7], [2, 3, 5], [1, 1], [], [0, 4]];

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const sp = (x: number) => Math.log1p(Math.exp(x));

const unary: [string, (x: tsr.Tensor) => tsr.Tensor, (x: number) => number, [number, number]?][] = [
  ['neg', tsr.neg, (x) => -x],
  ['abs', tsr.abs, Math.abs],
  ['exp', tsr.exp, Math.exp],
  ['log', tsr.log, Math.log, [0.1, 3]],
  ['log1p', tsr.log1p, Math.log1p, [-0.5, 3]],
  ['sqrt', tsr.sqrt, Math.sqrt, [0.1, 3]],
  ['rsqrt', tsr.rsqrt, (x) => 1 / Math.sqrt(x), [0.2, 3]],
  ['square', tsr.square, (x) => x * x],
  ['reciprocal', tsr.reciprocal, (x) => 1 / x, [0.3, 2]],
  ['sin', tsr.sin, Math.sin, [-3, 3]],
  ['cos', tsr.cos, Math.cos, [-3, 3]],
  ['relu', tsr.relu, (x) => Math.max(x, 0)],
  ['leakyRelu', (x) => tsr.leakyRelu(x, 0.1), (x) => (x > 0 ? x : 0.1 * x)],
  ['elu', tsr.elu, (x) => (x > 0 ? x : Math.exp(x) - 1)],
  ['gelu', tsr.gelu, (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), [-3, 3]],
  ['silu', tsr.silu, (x) => x * sigmoid(x), [-4, 4]],
  ['sigmoid', tsr.sigmoid, sigmoid, [-5, 5]],
  ['tanh', tsr.tanh, Math.tanh, [-3, 3]],
  ['softplus', tsr.softplus, sp, [-5, 5]],
  ['relu6', tsr.relu6, (x) => Math.min(Math.max(x, 0), 6), [-3, 9]],
  ['selu', tsr.selu, (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1)), [-3, 3]],
  ['mish', tsr.mish, (x) => x * Math.tanh(sp(x)), [-4, 4]],
  ['hardSigmoid', tsr.hardSigmoid, (x) => Math.min(Math.max(x / 6 + 0.5, 0), 1), [-5, 5]],
  ['softsign', tsr.softsign, (x) => x / (1 + Math.abs(x)), [-4, 4]],
  ['swish', tsr.swish, (x) => x * sigmoid(x), [-4, 4]],
  ['clip', (x) => tsr.clip(x, -0.5, 0.5), (x) => Math.min(Math.max(x, -0.5), 0.5)],
  ['pow scalar', (x) => tsr.pow(x, 3), (x) => x ** 3],
  ['mul scalar', (x) => tsr.mul(x, 2.5), (x) => x * 2.5],
  ['sub from scalar', (x) => tsr.sub(1, x), (x) => 1 - x],
];

const binary: [string, (a: tsr.Tensor, b: tsr.Tensor) => tsr.Tensor, (a: number, b: number) => number, [number, number]?][] = [
  ['add', tsr.add, (a, b) => a + b],
  ['sub', tsr.sub, (a, b) => a - b],
  ['mul', tsr.mul, (a, b) => a * b],
  ['div', tsr.div, (a, b) => a / b, [0.5, 2]],
  ['pow', tsr.pow, (a, b) => a ** b, [0.5, 2]],
  ['maximum', tsr.maximum, Math.max],
  ['minimum', tsr.minimum, Math.min],
];

const comparisons: [string, (a: tsr.Tensor, b: tsr.Tensor) => tsr.Tensor, (a: number, b: number) => boolean][] = [
  ['less', tsr.less, (a, b) => a < b],
  ['lessEqual', tsr.lessEqual, (a, b) => a <= b],
  ['greater', tsr.greater, (a, b) => a > b],
  ['greaterEqual', tsr.greaterEqual, (a, b) => a >= b],
  ['equal', tsr.equal, (a, b) => a === b],
  ['notEqual', tsr.notEqual, (a, b) => a !== b],
];

for (const device of testDevices()) {
  describe(`elementwise ops on ${device}`, () => {
    for (const [name, run, ref, range] of unary) {
      it(name, async () => {
        const rng = new Rng(1);
        for (const shape of UNARY_SHAPES) {
          const x = rng.arr(shape, ...(range ?? [-2, 2]));
          await checkOp(device, { name: `${name} ${JSON.stringify(shape)}`, inputs: [x], run, reference: (a) => map(ref, a) } as OpCase);
        }
      });
    }
    for (const [name, run, ref, range] of binary) {
      it(name, async () => {
        const rng = new Rng(2);
        for (const [sa, sb] of SHAPE_PAIRS) {
          const a = rng.arr(sa, ...(range ?? [-2, 2])), b = rng.arr(sb, ...(range ?? [-2, 2]));
          await checkOp(device, { name: `${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, inputs: [a, b], run, reference: (x, y) => map(ref, x, y) });
        }
      });
    }
    for (const [name, run, ref] of comparisons) {
      it(name, async () => {
        const rng = new Rng(3);
        for (const [sa, sb] of SHAPE_PAIRS) {
          // small integers so equality actually happens
          const a = rng.arr(sa, 0, 3).clone(), b = rng.arr(sb, 0, 3).clone();
          a.data.forEach((v, i) => { a.data[i] = Math.floor(v); });
          b.data.forEach((v, i) => { b.data[i] = Math.floor(v); });
          await checkOp(device, { name, inputs: [a, b], grad: [], run, reference: (x, y) => map((p, q) => Number(ref(p, q)), x, y) });
        }
      });
    }
    it('where', async () => {
      const rng = new Rng(4);
      const c = rng.arr([3, 1], 0, 2);
      c.data.forEach((v, i) => { c.data[i] = v > 1 ? 1 : 0; });
      await checkOp(device, {
        name: 'where', inputs: [c, rng.arr([3, 4]), rng.arr([4])], dtypes: ['bool', 'float32', 'float32'],
        run: (cond, a, b) => tsr.where(cond, a, b), reference: (cc, a, b) => map((p, q, r) => (p ? q : r), cc, a, b),
      });
    });
    it('sign, floor, isNaN, logical ops (no gradient)', async () => {
      const rng = new Rng(5);
      const x = rng.arr([2, 5], -3, 3);
      await checkOp(device, { name: 'sign', inputs: [x], grad: [], run: tsr.sign, reference: (a) => map(Math.sign, a) });
      await checkOp(device, { name: 'floor', inputs: [x], grad: [], run: tsr.floor, reference: (a) => map(Math.floor, a) });
      await checkOp(device, { name: 'isNaN', inputs: [x], grad: [], run: (a) => tsr.isNaN(tsr.log(a)), reference: (a) => map((v) => Number(Number.isNaN(Math.log(v))), a) });
      await checkOp(device, {
        name: 'logical', inputs: [x, x], grad: [],
        run: (a, b) => tsr.logicalOr(tsr.logicalAnd(tsr.greater(a, 0), tsr.less(b, 1)), tsr.logicalNot(tsr.greater(a, -2))),
        reference: (a, b) => map((p, q) => Number((p > 0 && q < 1) || !(p > -2)), a, b),
      });
    });
    it('cast between float32, int32 and bool', async () => {
      const rng = new Rng(6);
      const x = rng.arr([2, 4], -3, 3);
      await checkOp(device, { name: 'cast int32', inputs: [x], grad: [], run: (a) => tsr.cast(a, 'int32'), reference: (a) => map(Math.trunc, a) });
      await checkOp(device, { name: 'cast bool', inputs: [x], grad: [], run: (a) => tsr.cast(tsr.cast(a, 'int32'), 'bool'), reference: (a) => map((v) => Number(Math.trunc(v) !== 0), a) });
      await checkOp(device, { name: 'int arithmetic', inputs: [x], grad: [], run: (a) => tsr.add(tsr.mul(tsr.cast(a, 'int32'), 3), 1), reference: (a) => map((v) => Math.trunc(v) * 3 + 1, a) });
    });
  });
}
