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
export { hessianDensity, type HessianDensity, type HessianDensityOptions } from './landscape/hessian-density.js';
export { layerCurvature, layerBlocks, type LayerCurvature, type LayerCurvatureOptions } from './landscape/layer-curvature.js';
export { edgeOfStability, type StabilityResult } from './landscape/edge-of-stability.js';
export { optimizerSnapshot, optimizerState, type OptimizerSnapshot, type OptimizerState } from './model/optimizer-state.js';
export { stabilityThreshold, type UpdateRule } from './core/edge-of-stability.js';
export { modelAdaptiveSharpness, adaptiveDirections } from './landscape/adaptive-sharpness.js';
export { spectralDensity, stochasticLanczosQuadrature, gaussQuadrature, NEGATIVE_TOLERANCE, type SpectralDensity, type QuadratureRule } from './core/spectral-density.js';
export { lanczos, type LanczosOptions, type LanczosResult, type RitzPair } from './core/lanczos.js';
export { hutchinsonTrace, type HutchinsonOptions, type TraceEstimate } from './core/hutchinson.js';
export { tridiagonalEigen, type TridiagonalEigen } from './core/tridiagonal-eigen.js';
export { float64Space, paramListSpace, type VectorSpace } from './core/vector-space.js';
export { rademacherDirection } from './core/random-direction.js';

export { landscapeMonitor, LandscapeMonitor, type LandscapeMonitorOptions } from '../callbacks/landscape-monitor.js';
export { sharpnessCallback, SharpnessCallback, SharpnessMeasurement, DEFAULT_RADII, type SharpnessCallbackOptions, type SharpnessSettings } from '../callbacks/sharpness-callback.js';
export {
  adaptiveSharpnessCallback,
  AdaptiveSharpnessCallback,
  AdaptiveSharpnessMeasurement,
  DEFAULT_ADAPTIVE_RADIUS,
  type AdaptiveSharpnessCallbackOptions,
  type AdaptiveSharpnessSettings,
} from '../callbacks/adaptive-sharpness-callback.js';
export { adaptiveSharpness, type AdaptiveSharpness, type AdaptiveSharpnessOptions, type ScaledLoss } from './core/adaptive-sharpness.js';
export { hessianCallback, HessianCallback, HessianMeasurement, type HessianCallbackOptions, type HessianSettings } from '../callbacks/hessian-callback.js';
export { trajectoryCallback, TrajectoryCallback, TrajectoryMeasurement, type TrajectoryCallbackOptions, type TrajectorySettings } from '../callbacks/trajectory-callback.js';
export { snapshotCallback, SnapshotCallback, SnapshotMeasurement, type SnapshotCallbackOptions, type SnapshotSettings } from '../callbacks/snapshot-callback.js';
export { MeasurementCallback, type MeasurementCallbackOptions, type EpochRecord } from '../callbacks/measurement-callback.js';
export type { Measurement, MeasureContext, MeasureResult } from '../callbacks/measurement.js';
export { RunFolder, readRunFolder, readSnapshotFile, makeRunId, RUN_SCHEMA_VERSION, type RunContents, type SnapshotManifest } from './io/run-folder.js';
export { startRunServer, type RunServer, type RunServerOptions } from './io/run-server.js';
export { RunIndex, type RunListEntry } from './io/run-index.js';
export { MlflowSink, mlflowSinkFromEnv, type MlflowSinkOptions, type SinkReport } from './io/mlflow-sink.js';
export { MlflowClient, MlflowError, splitLogBatch, LOG_BATCH_LIMITS } from './io/mlflow-client.js';
export { trajectoryPca, type TrajectoryPca } from './core/trajectory-pca.js';
export { sharpness, type Sharpness } from './core/sharpness.js';
export { symmetricEigen } from './core/symmetric-eigen.js';
export { parseRule, judgeRule, RuleSyntaxError, type Rule, type Verdict, type MetricValue } from './core/gate-rules.js';
export { pairedRelativeChange, type PairedChange } from './core/paired-ratio.js';
export { studentTCdf, studentTQuantile } from './core/student-t.js';
export { summarizeRun, saveBaseline, loadBaseline, fingerprintMismatch, GATE_METRICS, type RunSummary, type RunFingerprint } from './io/run-summary.js';
export { gateTable, gateMarkdown, gateJunit, githubAnnotations } from '../reports/gate-formats.js';
export { runReportData, type RunReportData } from '../reports/run-report-data.js';
export { renderRunReport } from '../reports/run-report.js';
export { chartJsSource } from '../reports/chart-js-source.js';
export { runCharts, type ReportChart } from '../reports/run-charts.js';
export { renderChartPng } from '../reports/chart-png.js';
export { contourLines, contourLevels, type ContourLevel } from '../reports/contour-lines.js';
export { parseShard, shardFromEnv, shardPoints, type Shard } from './core/shard.js';
export { readPart, mergeParts, PartWriter, jobId, jobDifference, type Part, type PartHeader, type JobComponents } from './io/grid-job.js';
export type { GridSubset } from './core/sample-grid.js';
/** Activates a TF.js backend by name (tensorflow, wasm, cpu; the first that loads when none is given), as the CLI does. */
export { selectBackend, BACKEND_NAMES, type BackendName } from './cli/backend.js';
/** Runs a landscope CLI command in-process: `await cli(['gate', '--baseline', …], io)` returns its exit code. */
export { main as cli } from './cli/main.js';
export type { CliIo } from './cli/cli-io.js';
