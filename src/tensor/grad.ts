// The functional form of autograd: grad(f)(...xs) returns df/dx for each argument.
import { fail } from '../core/errors.js';
import { keep, tidy } from './scope.js';
import type { Tensor } from './tensor.js';

/**
 * Value of f and its gradient with respect to every tensor argument. f must return a scalar.
 * @example const [loss, [dw]] = tsr.valueAndGrad((w) => w.square().sum())(w)
 */
export function valueAndGrad(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => [Tensor, Tensor[]] {
  return (...xs) => {
    const inputs = xs.map((x) => x.detach().requireGrad());
    const result = tidy(() => {
      const y = f(...inputs);
      if (!y || typeof y.backward !== 'function') fail('grad', 'the function must return a Tensor');
      if (y.size !== 1) fail('grad', `the function must return a scalar, got shape [${y.shape.join(', ')}]`);
      y.backward();
      return y.detach();
    });
    const grads = inputs.map((x) => {
      const g = x.grad ?? null;
      x.grad = null;
      return g ? keep(g) : fail('grad', 'an argument does not affect the result');
    });
    inputs.forEach((x) => x.dispose());
    return [result, grads];
  };
}

/** The gradient function of a scalar-valued f. @example tsr.grad((x) => x.square().sum())(x) */
export function grad(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor[] {
  const vg = valueAndGrad(f);
  return (...xs) => {
    const [value, grads] = vg(...xs);
    value.dispose();
    return grads;
  };
}
