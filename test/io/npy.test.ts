import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatNpy, parseNpy, readNpyFile, writeNpyFile } from '../../src/io/npy.js';
import { tmpPath } from '../helpers/fixture.js';

// Files written by NumPy 2.x itself (np.save / numpy.lib.format.write_array), the independent reference.
const dir = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/npy');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
const file = (name: string) => new Uint8Array(readFileSync(join(dir, name)));

describe('parseNpy', () => {
  for (const [name, dtype] of [['f4', 'float32'], ['f8', 'float64'], ['i4', 'int32'], ['i8', 'int64'], ['u1', 'uint8'], ['b1', 'bool'], ['scalar', 'float32'], ['empty', 'float32'], ['vec', 'int64']] as const) {
    it(`parseNpy(${name}.npy) reads NumPy's ${dtype} file exactly`, () => {
      const a = parseNpy(file(`${name}.npy`));
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual(expected[name].shape);
      const values = Array.from(a.data as ArrayLike<number | bigint>, Number);
      const want = (expected[name].values as number[]).map((v) => (dtype === 'float32' ? Math.fround(v) : v));
      expect(values).toEqual(want);
    });
  }

  it('parseNpy reads format versions 2.0 and 3.0', () => {
    const v1 = parseNpy(file('f4.npy'));
    for (const v of ['f4-v2.npy', 'f4-v3.npy']) {
      const a = parseNpy(file(v));
      expect(a.shape).toEqual([3, 4]);
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from(v1.data as Float32Array));
    }
  });

  it('parseNpy rejects Fortran order, big-endian, object, complex and truncated files with a clear error', () => {
    expect(() => parseNpy(file('fortran.npy'), 'x.npy')).toThrow('x.npy: Fortran-order arrays are not supported');
    expect(() => parseNpy(file('bigendian.npy'), 'x.npy')).toThrow("x.npy: descr '>f4': big-endian data is not supported");
    expect(() => parseNpy(file('object.npy'), 'x.npy')).toThrow("descr '|O': object arrays are not supported");
    expect(() => parseNpy(file('complex.npy'), 'x.npy')).toThrow("descr '<c8': unsupported element type");
    expect(() => parseNpy(file('truncated.npy'), 'x.npy')).toThrow('x.npy: truncated: shape [3,4] of float32 needs 48 data bytes, the file has 43');
    expect(() => parseNpy(new TextEncoder().encode('{"a": 1}'), 'x.npy')).toThrow('x.npy: not a NumPy .npy file');
    expect(() => parseNpy(file('f4.npy').subarray(0, 30), 'x.npy')).toThrow('x.npy: truncated in its header');
  });
});

describe('formatNpy', () => {
  it('formatNpy writes what NumPy writes, byte for byte', () => {
    for (const name of ['f4', 'f8', 'i4', 'u1']) {
      const a = parseNpy(file(`${name}.npy`));
      expect(Buffer.from(formatNpy(a)).equals(Buffer.from(file(`${name}.npy`))), name).toBe(true);
    }
  });

  it('formatNpy then parseNpy round-trips every dtype, and writeNpyFile/readNpyFile go through disk', async () => {
    const arrays = [
      { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) },
      { dtype: 'int64', shape: [3], data: new BigInt64Array([1n, -2n, 3n]) },
      { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
    ] as const;
    for (const a of arrays) {
      const b = parseNpy(formatNpy(a));
      expect(b.dtype).toBe(a.dtype);
      expect(b.shape).toEqual(a.shape);
      expect(Array.from(b.data as ArrayLike<number | bigint>)).toEqual(Array.from(a.data as ArrayLike<number | bigint>));
    }
    const path = tmpPath('npy', 'roundtrip.npy');
    await writeNpyFile(path, arrays[0]);
    expect(Array.from((await readNpyFile(path)).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6.5]);
    await expect(readNpyFile(tmpPath('npy', 'missing.npy'), '--x')).rejects.toThrow(/^--x: no file at .*missing\.npy$/);
  });

  it('formatNpy rejects data that does not match its shape or dtype', () => {
    expect(() => formatNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(3) })).toThrow('formatNpy: data has 3 elements, shape [2,2] needs 4');
    expect(() => formatNpy({ dtype: 'float64', shape: [2], data: new Float32Array(2) })).toThrow('formatNpy: a Float32Array cannot hold dtype float64');
  });
});
