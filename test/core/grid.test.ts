import { describe, expect, it } from 'vitest';
import { linspace, parseRange } from '../../src/core/grid.js';
import { expected } from '../helpers/fixture.js';

describe('parseRange / linspace', () => {
  it('parseRange("-1:1:11") gives numpy.linspace(-1, 1, 11) bit for bit (the fixture axes)', () => {
    expect(linspace(parseRange('-1:1:11'))).toEqual(expected().surface_2d.a);
    expect(linspace(parseRange('-1:1:21'))).toEqual(expected().slice_1d.a);
  });

  it('linspace includes both ends, and num = 1 with min = max is one point', () => {
    const v = linspace(parseRange('-0.5:1.5:401'));
    expect(v).toHaveLength(401);
    expect(v[0]).toBe(-0.5);
    expect(v[400]).toBe(1.5);
    expect(linspace(parseRange('0.25:0.25:1'))).toEqual([0.25]);
  });

  it('parseRange rejects malformed ranges, naming the argument and the value', () => {
    expect(() => parseRange('1:-1:0', '--xrange')).toThrow("--xrange: num = 0 in '1:-1:0' is not a positive integer");
    expect(() => parseRange('1:-1:5', '--xrange')).toThrow("--xrange: min 1 is greater than max -1 in '1:-1:5'");
    expect(() => parseRange('a:b:c', '--xrange')).toThrow("--xrange: 'a:b:c' has a part that is not a finite number");
    expect(() => parseRange('-1:1', '--xrange')).toThrow("--xrange: '-1:1' is not min:max:num");
    expect(() => parseRange('-1:1:2.5')).toThrow("range: num = 2.5 in '-1:1:2.5' is not a positive integer");
    expect(() => parseRange('0:1:1')).toThrow("range: num = 1 needs min = max, got '0:1:1'");
    expect(() => parseRange('NaN:1:3')).toThrow('not a finite number');
  });
});
