import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { axpy, dot, linearCombination, norm, ParamList, scale, subtract } from '../../src/core/param-list.js';
import { useBackend } from '../helpers/backend.js';

function list(seed: number): { list: ParamList; flat: number[] } {
  const shapes = [[3, 4], [4], [2, 2, 3]];
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const entries = shapes.map((shape, i) => ({ name: `t${i}`, tensor: tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b) }, next), shape) }));
  const l = new ParamList(entries);
  return { list: l, flat: entries.flatMap((e) => Array.from(e.tensor.dataSync())) };
}

describe('ParamList algebra (against plain float64 arithmetic)', () => {
  beforeAll(() => useBackend('cpu'));

  it('dot(a, b) and norm(a) match float64 sums over the flat vectors', () => {
    const a = list(1);
    const b = list(2);
    const ref = a.flat.reduce((s, v, i) => s + v * (b.flat[i] as number), 0);
    expect(dot(a.list, b.list)).toBeCloseTo(ref, 5);
    expect(norm(a.list)).toBeCloseTo(Math.sqrt(a.flat.reduce((s, v) => s + v * v, 0)), 5);
    expect(a.list.size).toBe(12 + 4 + 12);
  });

  it('axpy, scale, subtract and linearCombination match float64 element-wise results', async () => {
    const a = list(3);
    const b = list(4);
    const c = list(5);
    const check = async (got: ParamList, want: (i: number) => number) => {
      const flat = await got.toFlat();
      flat.forEach((v, i) => expect(v).toBeCloseTo(want(i), 5));
      got.dispose();
    };
    await check(axpy(2.5, a.list, b.list), (i) => 2.5 * a.flat[i]! + b.flat[i]!);
    await check(scale(a.list, -3), (i) => -3 * a.flat[i]!);
    await check(subtract(a.list, b.list), (i) => a.flat[i]! - b.flat[i]!);
    await check(linearCombination(a.list, [0.5, -2], [b.list, c.list]), (i) => a.flat[i]! + 0.5 * b.flat[i]! - 2 * c.flat[i]!);
    await check(linearCombination(a.list, [], []), (i) => a.flat[i]!);
  });

  it('ParamList operations leak no tensor', () => {
    const a = list(6);
    const b = list(7);
    const before = tf.memory().numTensors;
    dot(a.list, b.list);
    norm(a.list);
    for (const r of [axpy(1, a.list, b.list), scale(a.list, 2), linearCombination(a.list, [1, 2], [b.list, b.list]), a.list.clone()]) r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('ParamList rejects duplicate names and mismatched layouts, naming the tensor', () => {
    const t = () => tf.zeros([2]);
    expect(() => new ParamList([{ name: 'w', tensor: t() }, { name: 'w', tensor: t() }])).toThrow("ParamList: duplicate tensor name 'w'");
    const a = new ParamList([{ name: 'w', tensor: tf.zeros([2, 3]) }]);
    const b = new ParamList([{ name: 'w', tensor: tf.zeros([3, 2]) }]);
    expect(() => dot(a, b)).toThrow("dot: tensor 0 is 'w' [2,3] in one and 'w' [3,2] in the other");
    expect(() => linearCombination(a, [1, 2], [a])).toThrow('linearCombination: 2 coefficients for 1 terms');
  });
});
