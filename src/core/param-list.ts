/**
 * Parameter-vector algebra over a named list of tensors.
 *
 * A model's parameters (and a direction in parameter space) are a list of tensors in a fixed
 * order with a name each. Treated as one flat vector — each tensor flattened in C order, the
 * tensors concatenated in list order — they support the vector operations that the landscape
 * methods need. Every operation runs on the TF.js backend (no per-element JavaScript loops),
 * inside `tidy`, and returns new tensors the caller owns: dispose them with `dispose()`.
 */
import * as tf from '@tensorflow/tfjs';

/** One named tensor of a parameter list. */
export interface NamedTensor {
  readonly name: string;
  readonly tensor: tf.Tensor;
}

/** An ordered, named list of tensors seen as one flat vector. */
export class ParamList {
  /** The tensors' names, in order. */
  readonly names: readonly string[];
  /** The tensors, in order; owned by this list. */
  readonly tensors: readonly tf.Tensor[];

  /**
   * @param entries the named tensors, in order; the list takes ownership of the tensors
   * @throws {RangeError} when two entries share a name
   */
  constructor(entries: readonly NamedTensor[]) {
    const names = entries.map((e) => e.name);
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) throw new RangeError(`ParamList: duplicate tensor name '${name}'`);
      seen.add(name);
    }
    this.names = names;
    this.tensors = entries.map((e) => e.tensor);
  }

  /** The number of scalar entries of the flat vector. */
  get size(): number {
    return this.tensors.reduce((n, t) => n + t.size, 0);
  }

  /** The named entries, in order. */
  entries(): NamedTensor[] {
    return this.tensors.map((tensor, i) => ({ name: this.names[i] as string, tensor }));
  }

  /**
   * A new list with the same names whose tensor `i` is `fn(tensor_i, i, name_i)`, run in `tidy`.
   * @param fn builds the new tensor; it must not dispose its argument
   * @returns a new list the caller owns
   */
  map(fn: (t: tf.Tensor, i: number, name: string) => tf.Tensor): ParamList {
    return new ParamList(
      this.tensors.map((t, i) => {
        const name = this.names[i] as string;
        return { name, tensor: tf.tidy(() => fn(t, i, name)) };
      }),
    );
  }

  /** A deep copy (new tensors with the same values). */
  clone(): ParamList {
    return this.map((t) => t.clone());
  }

  /** Disposes every tensor of the list. */
  dispose(): void {
    for (const t of this.tensors) t.dispose();
  }

  /** Copies the values out as one flat Float64Array (C order per tensor, tensors in order). */
  async toFlat(): Promise<Float64Array> {
    const out = new Float64Array(this.size);
    let offset = 0;
    for (const t of this.tensors) {
      out.set(await t.data(), offset);
      offset += t.size;
    }
    return out;
  }
}

/**
 * Checks that `a` and `b` have the same names and shapes, in the same order.
 * @throws {RangeError} naming the first tensor that differs
 */
export function assertSameLayout(a: ParamList, b: ParamList, what = 'ParamList'): void {
  if (a.tensors.length !== b.tensors.length) {
    throw new RangeError(`${what}: ${a.tensors.length} tensors vs ${b.tensors.length}`);
  }
  a.tensors.forEach((t, i) => {
    const u = b.tensors[i] as tf.Tensor;
    if (a.names[i] !== b.names[i] || !tf.util.arraysEqual(t.shape, u.shape)) {
      throw new RangeError(
        `${what}: tensor ${i} is '${a.names[i]}' [${t.shape}] in one and '${b.names[i]}' [${u.shape}] in the other`,
      );
    }
  });
}

/** The inner product `aᵀb` of two lists of the same layout. */
export function dot(a: ParamList, b: ParamList): number {
  assertSameLayout(a, b, 'dot');
  return tf.tidy(() => {
    const parts = a.tensors.map((t, i) => tf.sum(tf.mul(t, b.tensors[i] as tf.Tensor)));
    return parts.length === 0 ? 0 : (tf.addN(parts).dataSync()[0] as number);
  });
}

/** The Euclidean norm of the flat vector. */
export function norm(a: ParamList): number {
  return Math.sqrt(dot(a, a));
}

/** `s · a`, a new list. */
export function scale(a: ParamList, s: number): ParamList {
  return a.map((t) => tf.mul(t, s));
}

/** `alpha · x + y`, a new list. */
export function axpy(alpha: number, x: ParamList, y: ParamList): ParamList {
  assertSameLayout(x, y, 'axpy');
  return x.map((t, i) => tf.add(tf.mul(t, alpha), y.tensors[i] as tf.Tensor));
}

/**
 * `base + Σ_k coefficients[k] · terms[k]`, a new list; the tensors are combined one name at a
 * time, so that no intermediate flat vector is ever materialized.
 * @throws {RangeError} when the counts differ or a term's layout differs from `base`
 */
export function linearCombination(
  base: ParamList,
  coefficients: readonly number[],
  terms: readonly ParamList[],
): ParamList {
  if (coefficients.length !== terms.length) {
    throw new RangeError(
      `linearCombination: ${coefficients.length} coefficients for ${terms.length} terms`,
    );
  }
  for (const term of terms) assertSameLayout(base, term, 'linearCombination');
  return base.map((t, i) =>
    terms.reduce(
      (acc, term, k) => tf.add(acc, tf.mul(term.tensors[i] as tf.Tensor, coefficients[k] as number)),
      t.clone(),
    ),
  );
}

/** `a − b`, a new list. */
export function subtract(a: ParamList, b: ParamList): ParamList {
  return axpy(-1, b, a);
}
