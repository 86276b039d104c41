/**
 * The code blocks of a Markdown document, with the marks that make them testable: a block whose
 * info string holds `runnable` (```sh runnable) is a shell script to run as written; one with
 * `file=NAME` (```json file=point.json) is a file that the document's runnable blocks use.
 */

/** One fenced code block. */
export interface CodeBlock {
  /** The language (the info string's first word), or "". */
  readonly lang: string;
  readonly runnable: boolean;
  /** The file it is, for `file=NAME`. */
  readonly file?: string;
  readonly text: string;
  /** The 1-based line of its opening fence. */
  readonly line: number;
}

/** Every fenced (```) code block of `markdown`, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*(.*)$/.exec(lines[i] ?? "");
    if (!open) continue;
    const fence = open[1] ?? "```";
    const words = (open[2] ?? "").trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? "").startsWith(fence)) body.push(lines[j++] ?? "");
    const file = words.find((w) => w.startsWith("file="))?.slice("file=".length);
    blocks.push({
      lang: words[0] ?? "",
      runnable: words.includes("runnable"),
      ...(file ? { file } : {}),
      text: `${body.join("\n")}\n`,
      line: i + 1,
    });
    i = j;
  }
  return blocks;
}
