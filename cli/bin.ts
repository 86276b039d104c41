/** The `nqm` executable: runs the command line and sets the exit code. */
import { exitQuietlyOnClosedPipe } from "./io.ts";
import { run } from "./main.ts";

exitQuietlyOnClosedPipe();
process.exitCode = await run(process.argv.slice(2));
