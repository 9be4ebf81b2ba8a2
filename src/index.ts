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
