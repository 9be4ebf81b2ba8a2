/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0 (numpy/lib/format.py, NEP 1): a magic
 * string, a version, a little-endian header length (2 bytes in v1, 4 in v2/v3), a header that is a
 * Python dict literal (`descr`, `fortran_order`, `shape`; latin-1 in v1/v2, UTF-8 in v3) padded so
 * the data starts on a 64-byte boundary, then the raw data.
 *
 * Supported: little-endian C-order float32, float64, int32, int64, uint8 and bool. Anything else
 * (Fortran order, big-endian, object arrays, other types) or a truncated file is a clear error.
 */
import { LandscopeError } from '../errors.js';
import { readInputFile } from './read-input-file.js';
import { writeAtomic } from './write-atomic.js';

/** The element types this module reads and writes. */
export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

/** A typed array of one of the supported element types (int64 as BigInt64Array). */
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** An array read from or written to a `.npy` file: flat C-order data plus its shape. */
export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<i4': 'int32',
  '<i8': 'int64',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '|b1': 'bool',
  '<b1': 'bool',
};

const DESCR_OF: Record<NpyDtype, string> = {
  float32: '<f4',
  float64: '<f8',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
};

const BYTES: Record<NpyDtype, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1 };

function fail(source: string, message: string): never {
  throw new LandscopeError('BAD_NPY', `${source}: ${message}`);
}

/**
 * Parses the bytes of a `.npy` file.
 * @param bytes the whole file
 * @param source the file's name, used in error messages
 * @returns the array (its data is a copy, aligned for its type)
 * @throws {LandscopeError} code `BAD_NPY` for anything but a supported, complete file
 */
export function parseNpy(bytes: Uint8Array, source = '.npy data'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(source, 'not a NumPy .npy file (no \\x93NUMPY magic string)');
  }
  const major = bytes[6] as number;
  if (major < 1 || major > 3) fail(source, `unsupported .npy format version ${major}.${bytes[7]} (1.0, 2.0 and 3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) fail(source, 'truncated in its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) fail(source, `truncated in its header (${bytes.length} of ${dataStart} header bytes)`);
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : latin1(headerBytes);

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(source, `header is not a dict with 'descr', 'fortran_order' and 'shape': ${header.trim()}`);
  }
  if (fortran === 'True') fail(source, 'Fortran-order arrays are not supported: save with numpy.ascontiguousarray(a) first');
  const dtype = DESCR[descr];
  if (dtype === undefined) {
    const why = descr.startsWith('>')
      ? 'big-endian data is not supported (use a.astype(a.dtype.newbyteorder("<")))'
      : descr.includes('O')
        ? 'object arrays are not supported'
        : 'unsupported element type';
    fail(source, `descr '${descr}': ${why}; supported: float32, float64, int32, int64, uint8, bool (little-endian)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!(Number.isInteger(n) && n >= 0)) fail(source, `shape (${shapeText}) has a bad dimension '${s}'`);
      return n;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const byteCount = count * BYTES[dtype];
  if (bytes.length - dataStart < byteCount) {
    fail(source, `truncated: shape [${shape}] of ${dtype} needs ${byteCount} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // A copy: Node Buffers share a pool, and the typed array needs its own aligned buffer.
  const raw = new Uint8Array(bytes.subarray(dataStart, dataStart + byteCount)).buffer;
  const data: NpyData =
    dtype === 'float32'
      ? new Float32Array(raw)
      : dtype === 'float64'
        ? new Float64Array(raw)
        : dtype === 'int32'
          ? new Int32Array(raw)
          : dtype === 'int64'
            ? new BigInt64Array(raw)
            : new Uint8Array(raw);
  return { dtype, shape, data };
}

/**
 * Encodes an array as a `.npy` file (version 1.0, or 2.0 when the header needs it).
 * @param array the data, flat in C order, with its shape
 * @returns the file's bytes
 * @throws {RangeError} when the data length does not match the shape, or the typed array does not
 * match the dtype
 */
export function formatNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new RangeError(`formatNpy: data has ${data.length} elements, shape [${shape}] needs ${count}`);
  }
  if (data.BYTES_PER_ELEMENT !== BYTES[dtype]) {
    throw new RangeError(`formatNpy: a ${data.constructor.name} cannot hold dtype ${dtype}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const v1 = header.length + 1 + 10 <= 0xffff + 10;
  const prefix = v1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = header.padEnd(total - prefix - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * Reads a `.npy` file.
 * @param path the file
 * @param what the argument's name, for error messages (e.g. `--x`)
 * @throws {LandscopeError} `FILE_NOT_FOUND`, `FILE_UNREADABLE` or `BAD_NPY`
 */
export async function readNpyFile(path: string, what = 'npy'): Promise<NpyArray> {
  return parseNpy(await readInputFile(path, what), `${what} ${path}`);
}

/** Writes an array as a `.npy` file, atomically. */
export async function writeNpyFile(path: string, array: NpyArray): Promise<void> {
  await writeAtomic(path, formatNpy(array));
}
