// The sweep worker's entry when nqm runs from its TypeScript sources (through tsx). Node 20 does
// not apply `--import tsx` to what a worker thread imports, so this registers tsx's hooks in the
// worker first. The bundled CLI (dist/) loads its sweep-worker.js directly.
import { register } from "tsx/esm/api";

register();
const { default: runJob } = await import("./sweep-worker.ts");
export default runJob;
