/** Linear algebra for the kernel spectrum: a dense symmetric eigensolver and Lanczos for the top eigenpairs. */
export { symmetricEigen, tridiagonalEigen } from "./eigen.ts";
export { NonFiniteError } from "./errors.ts";
export type { SymmetricEigen } from "./eigen.ts";
export { lanczosTopK } from "./lanczos.ts";
export type { LanczosOptions, LanczosResult, MatVec } from "./lanczos.ts";
export { axpy, dot, plusScaled, subtract, sumAbsProduct } from "./vector.ts";
