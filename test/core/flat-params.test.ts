import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { flatParams, flatTensorSpace } from '../../src/core/flat-params.js';
import { ParamList, dot } from '../../src/core/param-list.js';
import { useBackend } from '../helpers/backend.js';

const layout = { names: ['k', 'b', 'c'], shapes: [[3, 4], [4], [2, 1, 3]] };
const list = (seed: number) => new ParamList(layout.names.map((name, i) => ({ name, tensor: tf.randomNormal(layout.shapes[i] as number[], 0, 1, 'float32', seed + i) })));

describe('flatParams', () => {
  beforeAll(() => useBackend('cpu'));

  it('flatParams(layout) flattens a list in C order, tensor after tensor, and unflattens it back', async () => {
    const a = list(1);
    const flat = flatParams(layout);
    const v = flat.flatten(a);
    expect(v.shape).toEqual([22]);
    expect(Array.from(await v.data())).toEqual([...(await a.tensors[0]!.data()), ...(await a.tensors[1]!.data()), ...(await a.tensors[2]!.data())]);
    const back = flat.unflatten(v);
    expect(back.names).toEqual(layout.names);
    expect(back.tensors.map((t) => t.shape)).toEqual(layout.shapes);
    expect(await back.toFlat()).toEqual(await a.toFlat());
    tf.dispose([v]);
    a.dispose();
    back.dispose();
  });

  it('an operator on lists becomes one on flat vectors with the same products, and flatTensorSpace agrees with the list algebra, leaking nothing', async () => {
    const a = list(5);
    const b = list(9);
    const flat = flatParams(layout);
    const H = async (v: ParamList) => v.map((t, i) => tf.mul(t, i + 1));
    const before = tf.memory().numTensors;
    const [fa, fb] = [flat.flatten(a), flat.flatten(b)];
    const product = await flat.operator(H)(fa);
    const expected = await H(a);
    expect(Array.from(await product.data())).toEqual(Array.from(await expected.toFlat()).map(Math.fround));
    expect(flatTensorSpace.dot(fa, fb)).toBeCloseTo(dot(a, b), 5);
    const axpy = flatTensorSpace.axpy(-0.5, fa, fb);
    const scaled = flatTensorSpace.scale(fa, 3);
    expect(Array.from(await axpy.data())).toEqual(Array.from(await fb.data()).map((y, i) => Math.fround(y + Math.fround(-0.5 * (fa.dataSync()[i] as number)))));
    expect(Array.from(await scaled.data())).toEqual(Array.from(await fa.data()).map((x) => Math.fround(3 * x)));
    for (const t of [fa, fb, product, axpy, scaled]) flatTensorSpace.dispose(t);
    expected.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });
});
