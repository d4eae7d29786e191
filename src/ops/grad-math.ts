// Gives the autograd engine the few ops it needs (kept out of src/tensor to keep layers one-way).
// The arrows resolve the ops at call time, so import order inside the ops cycle does not matter.
import { setGradMath } from '../tensor/autograd.js';
import { add } from './arith.js';
import { onesLike } from './creation.js';

setGradMath({
  onesLike: (t) => onesLike(t),
  add: (a, b) => add(a, b),
  alias: (t) => t.withView(t.shape, t.strides, t.offset),
});
