/**
 * A training session: a checked model bound to a data set (dims taken from the data where
 * the user did not set them), its compiled kernels, the initial parameters for a seed, and
 * the tangent kernel's top eigenvalue at w0, which fixes η_crit.
 */
import { compileModel } from "../compiler/codegen/compile.ts";
import type { Backend, CompiledKernels, Dtype } from "../compiler/codegen/api.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { defined } from "../foundation/defined.ts";
import { fail } from "../foundation/diagnostics.ts";
import { loadModel } from "../compiler/frontend.ts";
import { formatShape } from "../foundation/shape.ts";
import { loadDataset, type Dataset } from "./data/index.ts";
import { checkInputShape } from "./data/shape.ts";
import { initializeFlat } from "./init.ts";
import { defaultMemoryLimit } from "./memory.ts";
import { type LanczosOptions, type LanczosResult, lanczosTopK, type MatVec, NonFiniteError } from "./linalg/index.ts";

export type LossNormalization = "sum" | "mean";

export interface SessionOptions {
  readonly file: string;
  readonly source: string;
  readonly set: Readonly<Record<string, number>>;
  readonly modelName?: string;
  readonly data: string;
  /** Seed of the data draw (kept apart from the init seeds so all runs see the same data). */
  readonly dataSeed: number;
  readonly cwd?: string;
  readonly cacheDir?: string;
  /** How the kernels run: js, wasm or auto (default: the fastest this machine runs). */
  readonly backend?: Backend | "auto";
  /** The kernels' arithmetic (default f64; training state stays f64 either way). */
  readonly dtype?: Dtype;
  /** Threads of the wasm kernels (default: the machine's cores; a sweep gives each run 1). */
  readonly threads?: number;
  /** The bytes this session may allocate (default: half the machine's memory); a sweep divides its budget among its sessions. */
  readonly memoryLimit?: number;
}

export interface Session {
  readonly model: CheckedModel;
  readonly data: Dataset;
  readonly kernels: CompiledKernels;
  /** The backend the kernels run on (auto resolved). */
  readonly backend: Backend;
  /** Dims bound from the data, for the user's information. */
  readonly boundDims: Readonly<Record<string, number>>;
  /** The training inputs as the kernels take them. */
  readonly trainX: readonly Float64Array[];
  /** The bytes the session may allocate, and those its kernels' buffers hold (a run's prepared sets come on top). */
  readonly memory: { readonly limit: number; readonly kernelBytes: number };
}

/**
 * Loads the data and the model with every input dim the user did not --set bound to the
 * data's input shape; checks shapes; compiles the kernels for the training set size.
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const memoryLimit = options.memoryLimit ?? defaultMemoryLimit();
  const data = loadDataset(options.data, {
    seed: options.dataSeed,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    memoryLimit,
  });
  // One parse, one check: the dims of the input's shape that the user did not --set come from the data.
  const { model, boundDims } = loadModel(options.source, {
    file: options.file,
    set: options.set,
    inputShape: data.inputShape,
    ...(data.imageShape ? { imageShape: data.imageShape } : {}),
    ...(options.modelName ? { name: options.modelName } : {}),
  });
  const [input, ...others] = model.inputs;
  if (input === undefined || others.length > 0)
    fail("NQM4004", {
      found: formatShape(data.inputShape),
      name: model.inputs.map((i) => i.name).join(", "),
      expected: "a single input",
    });
  checkInputShape(data, input.name, input.shape);
  const outputSize = model.outputShape.reduce((a, b) => a * b, 1);
  if (outputSize !== data.outputSize) fail("NQM4005", { found: data.outputSize, expected: outputSize });
  const compiled = await compileModel(model, {
    source: options.source,
    file: options.file,
    maxBatch: data.train.n,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    memoryLimit,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
  });
  return {
    model,
    data,
    kernels: compiled.kernels,
    backend: compiled.backend,
    boundDims,
    trainX: [data.train.x],
    memory: { limit: memoryLimit, kernelBytes: compiled.workspaceBytes },
  };
}

/** The initial parameters (and fixed tensors, set on the kernels) for a seed. */
export function initialParameters(session: Session, seed: number): Float64Array {
  const { w, fixed } = initializeFlat(session.model, session.kernels.layout, seed);
  session.kernels.setFixed(fixed);
  return w;
}

/**
 * Where every run of `seed` starts: w0 (with the seed's fixed tensors set on the kernels) and
 * λ_max(K(w0)) with its eigenvector, which fix η_crit and warm-start the spectrum tracking.
 */
export function startingPoint(
  session: Session,
  seed: number,
): { readonly w0: Float64Array; readonly lambda0: number; readonly eigenvector0: Float64Array } {
  const w0 = initialParameters(session, seed);
  const top = topEigenvalues(session, w0, 1);
  const lambda0 = defined(top.values[0], "λ_max from Lanczos");
  return { w0, lambda0, eigenvector0: defined(top.vectors[0], "the eigenvector of λ_max") };
}

/**
 * The top-k eigenvalues of the tangent kernel K = J Jᵀ (sum over the training set) at w, by
 * Lanczos to a relative residual `tol` (1e-10 for η_crit; tracking during training needs less).
 */
export function topEigenvalues(
  session: Session,
  w: Float64Array,
  k: number,
  start?: Float64Array | readonly Float64Array[],
  tol = 1e-10,
) {
  const { kernels, data } = session;
  const size = data.train.n * data.outputSize;
  return topEigenpairs((v, out) => kernels.ntkMatVec(w, session.trainX, data.train.n, v, out), size, k, {
    tol,
    ...(start ? { start } : {}),
  });
}

/** lanczosTopK for k ≤ size, with a non-finite product reported to the user (NQM4006). */
export function topEigenpairs(matVec: MatVec, size: number, k: number, options: LanczosOptions): LanczosResult {
  try {
    return lanczosTopK(matVec, size, Math.min(k, size), options);
  } catch (error) {
    if (error instanceof NonFiniteError) fail("NQM4006", { what: error.what, where: error.where });
    throw error;
  }
}

/**
 * η_crit = 2/λ_max(K(w0)) for the sum loss ½Σ(f−y)²; for the mean loss every learning-rate
 * threshold is n times larger.
 */
export function criticalRate(lambdaMax: number, loss: LossNormalization, n: number): number {
  return (2 / lambdaMax) * (loss === "mean" ? n : 1);
}
