import { describe, expect, it } from 'vitest';
import { sampleGrid, toNested } from '../../src/core/sample-grid.js';

describe('sampleGrid', () => {
  it('sampleGrid(axes, f) puts f(x[i], y[j]) at i·ny + j (first index = first axis)', async () => {
    const xs = [-1, 0, 1];
    const ys = [10, 20];
    const seen: number[][] = [];
    const g = await sampleGrid([xs, ys], async ([a, b]) => {
      seen.push([a as number, b as number]);
      return { loss: (a as number) * 100 + (b as number), accuracy: 0.5 };
    });
    expect(g.shape).toEqual([3, 2]);
    expect(Array.from(g.values['loss'] as Float64Array)).toEqual([-90, -80, 10, 20, 110, 120]);
    expect(seen[1]).toEqual([-1, 20]);
    expect(toNested(g.values['loss'] as Float64Array, g.shape)).toEqual([[-90, -80], [10, 20], [110, 120]]);
  });

  it('sampleGrid records non-finite losses and missing accuracies as null', async () => {
    const g = await sampleGrid([[0, 1, 2]], async ([a]) => ({ loss: a === 1 ? NaN : a === 2 ? Infinity : 0.5, accuracy: a === 0 ? null : 1 }));
    expect(toNested(g.values['loss'] as Float64Array, g.shape)).toEqual([0.5, null, null]);
    expect(toNested(g.values['accuracy'] as Float64Array, g.shape)).toEqual([null, 1, 1]);
  });

  it('sampleGrid reports progress and rejects bad axes', async () => {
    const progress: number[] = [];
    await sampleGrid([[1, 2], [3]], async () => ({ loss: 0, accuracy: null }), (done, total) => progress.push(done / total));
    expect(progress).toEqual([0.5, 1]);
    await expect(sampleGrid([], async () => ({ loss: 0, accuracy: null }))).rejects.toThrow('sampleGrid: 0 axes; 1 or 2 are allowed');
    await expect(sampleGrid([[1], []], async () => ({ loss: 0, accuracy: null }))).rejects.toThrow('sampleGrid: an axis has no values');
  });
});
