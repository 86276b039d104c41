/**
 * CSV files: a header row of column names, then one example per row. The label columns
 * (default: the last column) form y, every other column is a feature of x. Errors name the file
 * and line, `data.csv:7: ...`. Blank lines are skipped; fields may be double-quoted (csv-parse reads
 * the file). Values beyond ±1e150 are refused: their squared loss would overflow.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "csv-parse/sync";
import { defined } from "../../foundation/defined.ts";
import { fail, NqmError } from "../../foundation/diagnostics.ts";
import { ioReason } from "../files.ts";
import { deriveSeed, Rng } from "../rng.ts";
import type { OptionReader } from "./options.ts";
import { refuseMemory } from "../memory.ts";
import { DATA_MAGNITUDE_LIMIT, isNonFiniteSpelling, parseNumber } from "./options.ts";
import type { Dataset, Split } from "./types.ts";
import { didYouMean } from "../../foundation/suggest.ts";

export const CSV_OPTIONS = ["path", "label", "test"] as const;

interface Table {
  file: string;
  columns: string[];
  rows: Float64Array[];
}

/** Loads `csv:PATH[,label=COL+COL][,test=PATH2|FRACTION]`; paths are relative to `cwd`. */
export function loadCsv(
  options: OptionReader,
  bare: string[],
  seed: number,
  cwd: string,
  memoryLimit: number,
): Dataset {
  const pathOption = options.raw("path");
  if (bare.length > 1) {
    fail("NQM4003", {
      reason: `csv: expected one file but found ${bare.map((b) => `\`${b}\``).join(", ")}; options are key=value`,
    });
  }
  if (bare.length === 1 && pathOption !== undefined)
    fail("NQM4003", { reason: "csv: the file is given twice (as a bare path and as path=)" });
  const path = bare[0] ?? pathOption;
  if (path === undefined) fail("NQM4003", { reason: "csv needs a file: write csv:PATH, e.g. csv:data/train.csv" });

  const table = readTable(path, cwd, memoryLimit);
  const labelText = options.raw("label");
  const labelColumns =
    labelText === undefined
      ? [table.columns.length - 1]
      : labelText.split("+").map((name) => {
          const index = table.columns.indexOf(name.trim());
          if (index < 0) {
            fail("NQM4003", {
              reason: `csv: ${path} has no column \`${name}\`${didYouMean(name, table.columns)} (its columns: ${table.columns.join(", ")})`,
            });
          }
          return index;
        });
  if (new Set(labelColumns).size !== labelColumns.length)
    fail("NQM4003", { reason: `csv: label=${labelText ?? ""} names a column twice` });
  if (labelColumns.length >= table.columns.length)
    fail("NQM4003", { reason: `csv: ${path} has no feature columns left besides the label` });
  const featureNames = table.columns.filter((_, c) => !labelColumns.includes(c));
  const labelNames = labelColumns.map((c) => defined(table.columns[c], "a label column"));

  const toSplit = (rows: Float64Array[], from: Table): Split => {
    const order = [...featureNames, ...labelNames].map((name) => from.columns.indexOf(name));
    const d = featureNames.length;
    const x = new Float64Array(rows.length * d);
    const y = new Float64Array(rows.length * labelNames.length);
    rows.forEach((row, r) => {
      order.forEach((source, k) => {
        const value = defined(row[source], "a cell of a checked row");
        if (k < d) x[r * d + k] = value;
        else y[r * labelNames.length + (k - d)] = value;
      });
    });
    return { n: rows.length, x, y };
  };

  let trainRows = table.rows;
  let test: Split | undefined;
  const testText = options.raw("test");
  let testName = "";
  if (testText !== undefined) {
    const fraction = parseNumber(testText);
    if (fraction !== undefined) {
      if (!(fraction > 0 && fraction < 1))
        fail("NQM4003", { reason: `csv: test=${testText} must be a fraction between 0 and 1, or a file` });
      const testCount = Math.round(fraction * table.rows.length);
      if (testCount < 1 || testCount >= table.rows.length) {
        fail("NQM4003", {
          reason: `csv: test=${testText} of ${table.rows.length} rows leaves an empty train or test split`,
        });
      }
      const indices = new Rng(deriveSeed(seed, "csv/split")).shuffle(table.rows.map((_, i) => i));
      const testIndices = indices.slice(0, testCount).sort((a, b) => a - b);
      const trainIndices = indices.slice(testCount).sort((a, b) => a - b);
      const rowAt = (i: number) => defined(table.rows[i], "a shuffled row");
      test = toSplit(testIndices.map(rowAt), table);
      trainRows = trainIndices.map(rowAt);
      testName = `,test=${testText}`;
    } else {
      const testTable = readTable(testText, cwd, memoryLimit);
      const missing = table.columns.filter((name) => !testTable.columns.includes(name));
      const extra = testTable.columns.filter((name) => !table.columns.includes(name));
      if (missing.length > 0 || extra.length > 0) {
        const parts = [
          missing.length > 0 ? `lacks ${missing.join(", ")}` : "",
          extra.length > 0 ? `has extra ${extra.join(", ")}` : "",
        ];
        fail("NQM4003", {
          reason: `csv: the test file ${testText} ${parts.filter((p) => p !== "").join(" and ")} compared with ${path}`,
        });
      }
      test = toSplit(testTable.rows, testTable);
      testName = `,test=${testText}`;
    }
  }
  const dataset: Dataset = {
    name: `csv:${path},label=${labelNames.join("+")}${testName}`,
    description: `${path}: ${trainRows.length} rows, features ${featureNames.join(", ")}; label ${labelNames.join(", ")}`,
    inputShape: [featureNames.length],
    outputSize: labelNames.length,
    train: toSplit(trainRows, table),
  };
  if (test !== undefined) dataset.test = test;
  return dataset;
}

function readTable(path: string, cwd: string, memoryLimit: number): Table {
  const absolute = resolve(cwd, path);
  let text: string;
  try {
    // A cell of a few bytes becomes an 8-byte double (and the text is held while parsing).
    const estimate = statSync(absolute).size * 8;
    if (estimate > memoryLimit) refuseMemory(`the data set ${path}`, estimate, memoryLimit);
    text = readFileSync(absolute, "utf8");
  } catch (error) {
    if (error instanceof NqmError) throw error;
    fail("NQM4003", { reason: `${path}: cannot read the file: ${ioReason(error)}` });
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      info: true,
      trim: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as typeof records; // with `info`, each record comes with its line
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    fail("NQM4003", { reason: `${path}${line === undefined ? "" : `:${line}`}: ${(error as Error).message}` });
  }
  let columns: string[] | undefined;
  const rows: Float64Array[] = [];
  for (const { record: cells, info } of records) {
    const lineNumber = info.lines;
    if (cells.length === 1 && cells[0] === "") continue; // a line of blanks
    if (columns === undefined) {
      columns = cells;
      if (columns.some((name) => name === ""))
        fail("NQM4003", { reason: `${path}:${lineNumber}: the header has an empty column name` });
      const seen = new Set<string>();
      for (const name of columns) {
        if (seen.has(name))
          fail("NQM4003", { reason: `${path}:${lineNumber}: column \`${name}\` appears twice in the header` });
        seen.add(name);
      }
      if (columns.length < 2)
        fail("NQM4003", {
          reason: `${path}:${lineNumber}: the header needs at least two columns (features and a label)`,
        });
      if (columns.every((name) => parseNumber(name) !== undefined)) {
        fail("NQM4003", {
          reason: `${path}:${lineNumber}: the first row must be a header of column names, but it holds only numbers`,
        });
      }
      continue;
    }
    const header = columns;
    if (cells.length !== header.length) {
      fail("NQM4003", {
        reason: `${path}:${lineNumber}: ${cells.length} cells, but the header has ${header.length} columns`,
      });
    }
    const row = new Float64Array(cells.length);
    cells.forEach((cell, c) => {
      const value = parseNumber(cell);
      if (value !== undefined) {
        if (Math.abs(value) > DATA_MAGNITUDE_LIMIT)
          fail("NQM4003", {
            reason: `${path}:${lineNumber}: \`${cell}\` in column \`${header[c]}\` is beyond ±${DATA_MAGNITUDE_LIMIT}, where squared losses overflow`,
          });
        row[c] = value;
        return;
      }
      if (isNonFiniteSpelling(cell))
        fail("NQM4006", { what: `\`${cell}\` in column \`${header[c]}\``, where: `${path}:${lineNumber}` });
      fail("NQM4003", {
        reason: `${path}:${lineNumber}: ${cell === "" ? "empty cell" : `\`${cell}\``} in column \`${header[c]}\` is not a number`,
      });
    });
    rows.push(row);
  }
  if (columns === undefined)
    fail("NQM4003", { reason: `${path}: the file is empty; expected a header row and data rows` });
  if (rows.length === 0) fail("NQM4003", { reason: `${path}: no data rows after the header` });
  return { file: path, columns, rows };
}
