import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeDirection } from '../../src/core/normalize-direction.js';
import { ParamList } from '../../src/core/param-list.js';
import { layoutOf, randomDirection } from '../../src/core/random-direction.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';

/** Plain float64 filter normalization of one tensor: filters indexed by `axes`. */
function filterNormalizeRef(d: Float64Array, w: Float64Array, shape: number[], axes: number[]): Float64Array {
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const key = (i: number) => axes.map((a) => Math.floor(i / (strides[a] as number)) % (shape[a] as number)).join(',');
  const dn = new Map<string, number>();
  const wn = new Map<string, number>();
  d.forEach((v, i) => {
    dn.set(key(i), (dn.get(key(i)) ?? 0) + v * v);
    wn.set(key(i), (wn.get(key(i)) ?? 0) + (w[i] as number) ** 2);
  });
  return d.map((v, i) => (v * Math.sqrt(wn.get(key(i)) as number)) / (Math.sqrt(dn.get(key(i)) as number) + 1e-10));
}

const layouts: { name: string; shape: number[]; axes: number[] }[] = [
  { name: 'dense [in,out]', shape: [5, 4], axes: [1] },
  { name: 'conv2d [kh,kw,in,out]', shape: [3, 3, 2, 4], axes: [3] },
  { name: 'conv2dTranspose [kh,kw,out,in]', shape: [3, 3, 4, 2], axes: [2] },
  { name: 'depthwise [kh,kw,in,mult]', shape: [3, 3, 2, 3], axes: [2, 3] },
  { name: 'embedding [vocab,dim]', shape: [6, 3], axes: [0] },
];

for (const backend of BACKENDS) {
  describe(`normalizeDirection on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    for (const layout of layouts) {
      it(`normalizeDirection(filter) scales each filter of a ${layout.name} kernel to the weights' filter norm`, async () => {
        const w = new ParamList([{ name: 'k', tensor: tf.randomNormal(layout.shape, 0, 0.3, 'float32', 11) }]);
        const d = randomDirection(layoutOf(w), 3);
        const out = normalizeDirection(d, w, { norm: 'filter', filterAxes: [layout.axes] });
        const ref = filterNormalizeRef(await d.toFlat(), await w.toFlat(), layout.shape, layout.axes);
        const got = await out.toFlat();
        got.forEach((v, i) => expect(Math.abs(v - (ref[i] as number))).toBeLessThan(1e-6));
        for (const l of [w, d, out]) l.dispose();
      });
    }

    it('normalizeDirection zeros 1-D tensors (biasbn), copies them (ignore none), and zeros frozen tensors', async () => {
      const w = new ParamList([
        { name: 'k', tensor: tf.tensor2d([[1, 2], [3, 4]]) },
        { name: 'b', tensor: tf.tensor1d([0.5, -0.5]) },
        { name: 'mean', tensor: tf.tensor1d([7, 8]) },
      ]);
      const d = randomDirection(layoutOf(w), 1);
      const biasbn = await normalizeDirection(d, w, { norm: 'layer', frozen: [false, false, true] }).toFlat();
      expect(Array.from(biasbn.slice(4))).toEqual([0, 0, 0, 0]);
      const none = await normalizeDirection(d, w, { norm: 'layer', ignore: 'none', frozen: [false, false, true] }).toFlat();
      expect(Array.from(none.slice(4))).toEqual([0.5, -0.5, 0, 0]);
      // layer: whole-tensor norm equals the weights' (√30), no epsilon
      const k = none.slice(0, 4);
      expect(Math.hypot(...k)).toBeCloseTo(Math.sqrt(30), 5);
    });

    it('normalizeDirection(model) scales the whole direction to the norm of the weights it covers', async () => {
      const w = new ParamList([
        { name: 'a', tensor: tf.tensor2d([[3, 0], [0, 0]]) },
        { name: 'c', tensor: tf.tensor2d([[0, 4]]) },
        { name: 'b', tensor: tf.tensor1d([100]) },
      ]);
      const d = randomDirection(layoutOf(w), 2);
      const raw = await d.toFlat();
      const got = await normalizeDirection(d, w, { norm: 'model' }).toFlat();
      const f = 5 / Math.hypot(...raw.slice(0, 6));
      got.slice(0, 6).forEach((v, i) => expect(v).toBeCloseTo((raw[i] as number) * f, 5));
      expect(got[6]).toBe(0);
      const none = await normalizeDirection(d, w, { norm: 'none' }).toFlat();
      expect(Array.from(none.slice(0, 6))).toEqual(Array.from(raw.slice(0, 6)));
    });

    it('normalizeDirection rejects unknown norms and axes outside the rank', () => {
      const w = new ParamList([{ name: 'k', tensor: tf.zeros([2, 2]) }]);
      expect(() => normalizeDirection(w, w, { norm: 'unit' as never })).toThrow("normalizeDirection: norm: 'unit' is not one of filter, layer, model, none");
      expect(() => normalizeDirection(w, w, { norm: 'filter', ignore: 'bias' as never })).toThrow("normalizeDirection: ignore: 'bias' is not one of biasbn, none");
      expect(() => normalizeDirection(w, w, { norm: 'filter', filterAxes: [[2]] })).toThrow("filter axes [2] of 'k' do not fit its rank 2");
    });
  });
}

describe('randomDirection', () => {
  it('randomDirection(layout, seed) is the same on cpu and wasm, and differs between tensors and seeds', async () => {
    const layout = { names: ['a', 'b'], shapes: [[4, 3], [4, 3]] };
    await useBackend('cpu');
    const cpu = await randomDirection(layout, 7).toFlat();
    await useBackend('wasm');
    const wasm = await randomDirection(layout, 7).toFlat();
    expect(Array.from(wasm)).toEqual(Array.from(cpu));
    expect(Array.from(cpu.slice(0, 12))).not.toEqual(Array.from(cpu.slice(12)));
    expect(Array.from((await randomDirection(layout, 8).toFlat()).slice(0, 12))).not.toEqual(Array.from(cpu.slice(0, 12)));
    const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length;
    expect(Math.abs(mean)).toBeLessThan(0.5);
    expect(() => randomDirection(layout, -1)).toThrow('seed: -1 is not an integer from 0 to 2147483647');
  });
});
