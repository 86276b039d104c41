/**
 * CSV files: a header row of column names, then one example per row. The label columns
 * (default: the last column) form y, every other column is a feature of x. Errors name the file
 * and line, `data.csv:7: ...`. Blank lines are skipped; fields may be double-quoted.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fail } from "../../foundation/diagnostics.ts";
import { Rng } from "../rng.ts";
import type { OptionReader } from "./options.ts";
import { isNonFiniteSpelling, parseNumber, streamSeed } from "./options.ts";
import type { Dataset, Split } from "./types.ts";
import { didYouMean } from "../../foundation/suggest.ts";

export const CSV_OPTIONS = ["path", "label", "test"] as const;

interface Table {
  file: string;
  columns: string[];
  rows: Float64Array[];
}

/** Loads `csv:PATH[,label=COL+COL][,test=PATH2|FRACTION]`; paths are relative to `cwd`. */
export function loadCsv(options: OptionReader, bare: string[], seed: number, cwd: string): Dataset {
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

  const table = readTable(path, cwd);
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
  const labelNames = labelColumns.map((c) => table.columns[c]!);

  const toSplit = (rows: Float64Array[], from: Table): Split => {
    const order = [...featureNames, ...labelNames].map((name) => from.columns.indexOf(name));
    const d = featureNames.length;
    const x = new Float64Array(rows.length * d);
    const y = new Float64Array(rows.length * labelNames.length);
    rows.forEach((row, r) => {
      order.forEach((source, k) => {
        if (k < d) x[r * d + k] = row[source]!;
        else y[r * labelNames.length + (k - d)] = row[source]!;
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
      const indices = new Rng(streamSeed(seed, "csv/split")).shuffle(table.rows.map((_, i) => i));
      const testIndices = indices.slice(0, testCount).sort((a, b) => a - b);
      const trainIndices = indices.slice(testCount).sort((a, b) => a - b);
      test = toSplit(
        testIndices.map((i) => table.rows[i]!),
        table,
      );
      trainRows = trainIndices.map((i) => table.rows[i]!);
      testName = `,test=${testText}`;
    } else {
      const testTable = readTable(testText, cwd);
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

function readTable(path: string, cwd: string): Table {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), "utf8");
  } catch (error) {
    const code = error instanceof Error && "code" in error ? String(error.code) : "";
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES"
            ? "permission denied"
            : String(error);
    fail("NQM4003", { reason: `${path}: cannot read the file (${reason})` });
  }
  const lines = text.split(/\r?\n/);
  let columns: string[] | undefined;
  const rows: Float64Array[] = [];
  lines.forEach((line, i) => {
    const lineNumber = i + 1;
    if (line.trim() === "") return;
    const cells = splitCsvLine(line, `${path}:${lineNumber}`);
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
      return;
    }
    if (cells.length !== columns.length) {
      fail("NQM4003", {
        reason: `${path}:${lineNumber}: ${cells.length} cells, but the header has ${columns.length} columns`,
      });
    }
    const row = new Float64Array(cells.length);
    cells.forEach((cell, c) => {
      const value = parseNumber(cell);
      if (value !== undefined) {
        row[c] = value;
        return;
      }
      if (isNonFiniteSpelling(cell))
        fail("NQM4006", { what: `\`${cell}\` in column \`${columns![c]}\``, where: `${path}:${lineNumber}` });
      fail("NQM4003", {
        reason: `${path}:${lineNumber}: ${cell === "" ? "empty cell" : `\`${cell}\``} in column \`${columns![c]}\` is not a number`,
      });
    });
    rows.push(row);
  });
  if (columns === undefined)
    fail("NQM4003", { reason: `${path}: the file is empty; expected a header row and data rows` });
  if (rows.length === 0) fail("NQM4003", { reason: `${path}: no data rows after the header` });
  return { file: path, columns, rows };
}

/** Splits one CSV line into trimmed cells; a double-quoted cell may hold commas and `""`. */
function splitCsvLine(line: string, where: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === " " || line[i] === "\t") i++;
    let cell = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) fail("NQM4003", { reason: `${where}: a quoted cell is not closed` });
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i];
        i++;
      }
      while (line[i] === " " || line[i] === "\t") i++;
      if (i < line.length && line[i] !== ",")
        fail("NQM4003", { reason: `${where}: unexpected text after a quoted cell` });
    } else {
      const comma = line.indexOf(",", i);
      const end = comma < 0 ? line.length : comma;
      cell = line.slice(i, end).trim();
      i = end;
    }
    cells.push(cell);
    if (i >= line.length) return cells;
    i++; // the comma
  }
}
