/**
 * The edge of stability (Cohen et al. 2021, 2022): the largest curvature an optimizer's update can
 * follow without diverging, from its hyperparameters. On a quadratic with curvature λ along an
 * eigenvector, gradient descent θ ← θ − ηλθ is stable iff λ ≤ 2/η; heavy-ball momentum
 * (v ← βv + g, θ ← θ − ηv) iff λ ≤ (2 + 2β)/η; Nesterov's form (θ ← θ − η(g + βv)) iff
 * λ ≤ (2 + 2β)/(η(1 + 2β)). Full-batch training drives λmax up to that threshold and then hovers
 * at it. Adaptive methods precondition the step: with the preconditioner P frozen, Adam is
 * EMA momentum on P⁻¹H, θ ← θ − ηP⁻¹m with m ← β₁m + (1 − β₁)g and P = (1 − β₁ᵗ)(√v̂ + ε),
 * stable iff λmax(P⁻¹H) ≤ (2 + 2β₁)/((1 − β₁)η); RMSprop (P = √(ms + ε), heavy-ball momentum μ)
 * iff λmax(P⁻¹H) ≤ (2 + 2μ)/η. λmax(P⁻¹H) is the largest eigenvalue of the symmetric P^{-1/2} H P^{-1/2}.
 */

/** What the threshold depends on: the update rule and its hyperparameters at this step. */
export type UpdateRule =
  | { readonly kind: 'sgd'; readonly learningRate: number }
  | { readonly kind: 'momentum'; readonly learningRate: number; readonly momentum: number; readonly nesterov: boolean }
  | { readonly kind: 'adam'; readonly learningRate: number; readonly beta1: number; readonly beta2: number; readonly epsilon: number; readonly step: number }
  | { readonly kind: 'rmsprop'; readonly learningRate: number; readonly decay: number; readonly momentum: number; readonly epsilon: number; readonly centered: boolean };

/** An optimizer's stability threshold. */
export interface StabilityThreshold {
  /** The largest stable curvature: of H, or of P⁻¹H when `preconditioned`. */
  readonly threshold: number;
  /** Whether the threshold bounds the preconditioned sharpness λmax(P⁻¹H) rather than λmax(H). */
  readonly preconditioned: boolean;
}

/**
 * The stability threshold of an update rule (see the file comment).
 * @returns the threshold, or null when the learning rate is not positive and finite
 */
export function stabilityThreshold(rule: UpdateRule): StabilityThreshold | null {
  const eta = rule.learningRate;
  if (!(eta > 0 && Number.isFinite(eta))) return null;
  switch (rule.kind) {
    case 'sgd':
      return { threshold: 2 / eta, preconditioned: false };
    case 'momentum': {
      const b = rule.momentum;
      return { threshold: rule.nesterov ? (2 + 2 * b) / (eta * (1 + 2 * b)) : (2 + 2 * b) / eta, preconditioned: false };
    }
    case 'adam':
      return { threshold: (2 + 2 * rule.beta1) / ((1 - rule.beta1) * eta), preconditioned: true };
    case 'rmsprop':
      return { threshold: (2 + 2 * rule.momentum) / eta, preconditioned: true };
  }
}

/**
 * The diagonal of an adaptive method's preconditioner P from its second-moment accumulator, as the
 * last step used it: Adam P = (1 − β₁ᵗ)(√(v/(1 − β₂ᵗ)) + ε) after t steps; RMSprop P = √(ms + ε)
 * (centered: √(ms − mg² − ε), as TF.js computes it). Returns P^{-1/2}, the scaling of the symmetric
 * form P^{-1/2} H P^{-1/2}.
 * @param accumulator Adam's v or RMSprop's mean squares, per parameter
 * @param meanGradient RMSprop's mean gradient (centered only)
 * @throws {RangeError} for an Adam rule before its first step (no preconditioner yet), or when P
 * is not positive somewhere (a centered RMSprop whose ms − mg² − ε is not)
 */
export function inverseSqrtPreconditioner(rule: UpdateRule, accumulator: Float32Array, meanGradient?: Float32Array): Float32Array {
  const out = new Float32Array(accumulator.length);
  if (rule.kind === 'adam') {
    if (!(rule.step >= 1)) throw new RangeError(`preconditioner: Adam has taken ${rule.step} steps; its preconditioner exists after the first`);
    const c1 = 1 - rule.beta1 ** rule.step;
    const c2 = 1 - rule.beta2 ** rule.step;
    for (let i = 0; i < out.length; i++) out[i] = 1 / Math.sqrt(c1 * (Math.sqrt((accumulator[i] as number) / c2) + rule.epsilon));
  } else if (rule.kind === 'rmsprop') {
    for (let i = 0; i < out.length; i++) {
      const ms = accumulator[i] as number;
      const p2 = rule.centered ? ms - ((meanGradient?.[i] ?? 0) as number) ** 2 - rule.epsilon : ms + rule.epsilon;
      if (!(p2 > 0)) throw new RangeError(`preconditioner: RMSprop's P² is ${p2} at parameter ${i}; it must be positive`);
      out[i] = 1 / Math.sqrt(Math.sqrt(p2));
    }
  } else {
    throw new RangeError(`preconditioner: ${rule.kind} does not precondition its step`);
  }
  return out;
}
