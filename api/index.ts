/**
 * nqm as a library: `import { loadModel, compile, initialize, train, sweep, verify } from "nqm"`.
 * Each function takes a model file and the options of its command (docs/api.md), and returns a
 * plain record; a user error throws NqmError, whose `diagnostics` are the messages the CLI prints.
 */
export { NqmError } from "../foundation/diagnostics.ts";
export type { Diagnostic } from "../foundation/diagnostics.ts";
export {
  compile,
  initialize,
  loadModel,
  verify,
  type CaseReport,
  type CompileOptions,
  type CompileOutput,
  type Initialization,
  type KernelOptions,
  type Message,
  type ModelInfo,
  type ModelOptions,
  type PropertyOutcome,
  type TensorInfo,
  type VerifyOptions,
  type VerifyReport,
} from "./model.ts";
export {
  sweep,
  train,
  type LossNormalization,
  type ModelKind,
  type RunRecord,
  type SessionInfo,
  type SweepOptions,
  type SweepResult,
  type SweepStart,
  type TrainingOptions,
  type TrainOptions,
  type TrainResult,
} from "./training.ts";
