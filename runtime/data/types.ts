/** The in-memory form of a data set: dense row-major Float64Arrays, ready for full-batch training. */

/** One split of a data set. */
export interface Split {
  /** Number of examples. */
  n: number;
  /** Inputs, row-major [n, ...inputShape]. */
  x: Float64Array;
  /** Labels, row-major [n, outputSize]. */
  y: Float64Array;
}

/** A loaded data set. */
export interface Dataset {
  /** The spec string it was loaded from, normalized (e.g. `gauss1d:n=128,test=2000`). */
  name: string;
  /** One human-readable line: where the examples come from and how they were labelled. */
  description: string;
  /** The shape of one input as the model takes it (image sets: flattened, [c·h·w]). */
  inputShape: number[];
  /** For image sets, the shape of one image, [c, h, w] or [h, w] for one channel; x holds it row-major. */
  imageShape?: number[];
  /** Values per label. */
  outputSize: number;
  train: Split;
  test?: Split;
}
