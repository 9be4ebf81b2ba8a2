import { describe, expect, it } from 'vitest';
import { SEED_MODULUS, subSeed } from '../../src/core/sub-seed.js';

describe('subSeed', () => {
  it('is seed·1000 + k for ordinary seeds and stays a valid seed for the largest ones', () => {
    expect(subSeed(3, 5)).toBe(3005);
    const top = subSeed(SEED_MODULUS - 1, 501);
    expect(Number.isInteger(top) && top >= 0 && top < SEED_MODULUS).toBe(true);
    expect(new Set(Array.from({ length: 8 }, (_, k) => subSeed(2_200_000, k))).size).toBe(8);
    expect(() => subSeed(-1, 0)).toThrow('subSeed: seed = -1 is not an integer from 0 to 2147483646');
    expect(() => subSeed(1, 1000)).toThrow('subSeed: k = 1000 is not an integer from 0 to 999');
  });
});
