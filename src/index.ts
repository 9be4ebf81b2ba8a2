/**
 * landscope: loss-landscape geometry for TensorFlow.js models (Li et al. 2018, "Visualizing the
 * Loss Landscape of Neural Nets"). Bring your own TF.js backend; landscope imports only
 * `@tensorflow/tfjs`.
 */
export { LandscopeError, type LandscopeErrorCode } from './errors.js';
export { LANDSCOPE_VERSION } from './version.js';

export { ParamList, dot, norm, scale, axpy, linearCombination, subtract, assertSameLayout, type NamedTensor } from './core/param-list.js';
export { randomDirection, layoutOf, type ParamLayout } from './core/random-direction.js';
export { normalizeDirection, NORM_KINDS, IGNORE_KINDS, type NormKind, type IgnoreKind, type NormalizeOptions } from './core/normalize-direction.js';
export { parseRange, linspace, type AxisRange } from './core/grid.js';
export { sampleGrid, toNested, type GridValues, type PointValue } from './core/sample-grid.js';

export { modelWeights, modelLayout, readModelWeights, writeModelWeights, matchModelLayout, filterAxes, type ModelWeight } from './model/model-weights.js';
export { ModelEvaluator, type EvaluatorOptions, type LossAndAccuracy } from './model/evaluator.js';
export { prepareData, type Dataset } from './model/prepare-data.js';
export { resolveLoss, type ResolvedLoss } from './model/model-loss.js';
export { lossByName, LOSS_NAMES, type LossFn, type LossName } from './model/losses.js';

export { modelDirection, normalizeForModel, checkpointDirection, type DirectionOptions } from './landscape/directions.js';
export { surface, interpolate, type SurfaceOptions, type SurfaceResult, type InterpolateOptions } from './landscape/surface.js';

export { parseNpy, formatNpy, readNpyFile, writeNpyFile, type NpyArray, type NpyDtype } from './io/npy.js';
export { readArtifact, artifactWeights, loadModel, saveWeightsArtifact, folderSaveHandler, type Artifact } from './io/artifact.js';

export { registerKernels, LANDSCOPE_KERNELS, type RegisterKernelsOptions } from './kernels/register-kernels.js';

export { hvp, PARAM_SELECTIONS, type HvpOperator, type HvpOptions, type ParamSelection } from './model/hvp.js';
export { withSecondOrderGradients, SECOND_ORDER_GRADIENTS, SECOND_ORDER_UNSUPPORTED } from './model/second-order-gradients.js';
export { hessianEigen, hessianMap, eigenOf, TRACE_METHODS, type HessianOptions, type HessianResult, type HessianMapOptions, type HessianMapResult, type TraceMethod } from './landscape/hessian.js';
export { lanczos, type LanczosOptions, type LanczosResult, type RitzPair } from './core/lanczos.js';
export { hutchinsonTrace, type HutchinsonOptions, type TraceEstimate } from './core/hutchinson.js';
export { tridiagonalEigen, type TridiagonalEigen } from './core/tridiagonal-eigen.js';
export { float64Space, paramListSpace, type VectorSpace } from './core/vector-space.js';
export { rademacherDirection } from './core/random-direction.js';
