/**
 * The Chevrotain parser: grammar rules only, building a CST. Error recovery is on, so a run
 * reports every syntax error it can; grammar/build-ast.ts turns an error-free CST into the AST.
 */
import {
  CstParser,
  createTokenInstance,
  EOF,
  type IParserErrorMessageProvider,
  type IToken,
  type TokenType,
} from "chevrotain";
import * as T from "./tokens.ts";

/** What a syntax error message is built from: kept structured so the diagnostics table words it. */
export interface SyntaxErrorParts {
  readonly expected: string;
  readonly found: string;
  /** How many different things would have been accepted; with one, it reads "expected X". */
  readonly choices: number;
}

/** "`let`", "name `foo`", "number `3`", "end of file". */
function describeToken(token: IToken): string {
  if (token.tokenType === EOF) return "end of file";
  if (token.tokenType === T.Identifier) return `name \`${token.image}\``;
  if (token.tokenType === T.NumberLiteral) return `number \`${token.image}\``;
  if (token.tokenType === T.StringLiteral) return `string ${token.image}`;
  return `\`${token.image}\``;
}

// Only the top rule expects the end of the input, after its models.
const END_OF_FILE = "`model` or end of file";
const DECLARATION_OR_CLOSE = "a declaration (`dim`, `const`, `input`, `param`, `fixed`, `let` or `output`) or `}`";

function label(type: TokenType): string {
  return type === EOF ? END_OF_FILE : (type.LABEL ?? type.name);
}

function parts(labels: Iterable<string>, actual: IToken): string {
  // A keyword is accepted as a name only to report it (see declaredName): never suggest one.
  const unique = [...new Set(labels)].filter((l) => l !== T.Keyword.LABEL);
  const expected =
    unique.length <= 1 ? (unique[0] ?? "nothing") : `${unique.slice(0, -1).join(", ")} or ${unique.at(-1)}`;
  return JSON.stringify({ expected, found: describeToken(actual), choices: unique.length } satisfies SyntaxErrorParts);
}

/** Stands for a missing token in an error report (Chevrotain always passes one; this keeps the types honest). */
const EOF_TOKEN = createTokenInstance(EOF, "", Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN);

// Messages are returned as JSON of their parts; parseSource rebuilds them through the table.
const messageProvider: IParserErrorMessageProvider = {
  // The `}` of a model follows any number of declarations: name those too.
  buildMismatchTokenMessage: ({ expected, actual, ruleName }) =>
    parts([ruleName === "model" && expected === T.RCurly ? DECLARATION_OR_CLOSE : label(expected)], actual),
  buildNotAllInputParsedMessage: ({ firstRedundant }) => parts([END_OF_FILE], firstRedundant),
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual }) =>
    parts(
      expectedPathsPerAlt.flatMap((paths) => paths.flatMap((path) => (path[0] ? [label(path[0])] : []))),
      actual[0] ?? EOF_TOKEN,
    ),
  buildEarlyExitMessage: ({ expectedIterationPaths, actual }) =>
    parts(
      expectedIterationPaths.flatMap((path) => (path[0] ? [label(path[0])] : [])),
      actual[0] ?? EOF_TOKEN,
    ),
};

export class ModelParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messageProvider, maxLookahead: 2 });
    this.performSelfAnalysis();
  }

  file = this.RULE("file", () => {
    this.MANY(() => this.SUBRULE(this.model));
  });

  /**
   * The name a declaration introduces. A keyword followed by what follows the name here
   * (`let output = 1`) is taken as the name so that build-ast can say plainly that a keyword
   * cannot be a name, instead of recovery guessing at a new declaration.
   */
  declaredName = this.RULE("declaredName", (follow?: TokenType) => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier, { LABEL: "name" }) },
      { GATE: () => this.LA(2).tokenType === follow, ALT: () => this.CONSUME(T.Keyword, { LABEL: "name" }) },
    ]);
  });

  model = this.RULE("model", () => {
    this.CONSUME(T.Model);
    this.SUBRULE(this.declaredName, { ARGS: [T.LCurly] });
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.declaration));
    this.CONSUME(T.RCurly);
  });

  declaration = this.RULE("declaration", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.dimDecl) },
      { ALT: () => this.SUBRULE(this.constDecl) },
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.tensorDecl) },
      { ALT: () => this.SUBRULE(this.letDecl) },
      { ALT: () => this.SUBRULE(this.outputDecl) },
    ]);
  });

  dimDecl = this.RULE("dimDecl", () => {
    this.CONSUME(T.Dim);
    this.SUBRULE(this.declaredName, { ARGS: [T.Equals] });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  constDecl = this.RULE("constDecl", () => {
    this.CONSUME(T.Const);
    this.SUBRULE(this.declaredName, { ARGS: [T.Equals] });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.signedNumber);
  });

  signedNumber = this.RULE("signedNumber", () => {
    this.OPTION(() => this.CONSUME(T.Minus));
    this.CONSUME(T.NumberLiteral);
  });

  inputDecl = this.RULE("inputDecl", () => {
    this.CONSUME(T.Input);
    this.SUBRULE(this.declaredName, { ARGS: [T.Colon] });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.shape);
  });

  tensorDecl = this.RULE("tensorDecl", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Param, { LABEL: "keyword" }) },
      { ALT: () => this.CONSUME(T.Fixed, { LABEL: "keyword" }) },
    ]);
    this.SUBRULE(this.declaredName, { ARGS: [T.Colon] });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.shape);
    this.OPTION(() => {
      this.CONSUME(T.Tilde);
      this.SUBRULE(this.init);
    });
  });

  init = this.RULE("init", () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(T.RParen);
  });

  // Shape entries are dim expressions (`h - k + 1`), folded to integers by the checker.
  shape = this.RULE("shape", () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression, { LABEL: "entry" }) });
    this.CONSUME(T.RBracket);
  });

  letDecl = this.RULE("letDecl", () => {
    this.CONSUME(T.Let);
    this.SUBRULE(this.declaredName, { ARGS: [T.Equals] });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  outputDecl = this.RULE("outputDecl", () => {
    this.CONSUME(T.Output);
    this.SUBRULE(this.expression);
  });

  expression = this.RULE("expression", () => {
    this.SUBRULE(this.additive);
  });

  additive = this.RULE("additive", () => {
    this.SUBRULE(this.multiplicative, { LABEL: "operand" });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Plus, { LABEL: "operator" }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: "operator" }) },
      ]);
      this.SUBRULE2(this.multiplicative, { LABEL: "operand" });
    });
  });

  multiplicative = this.RULE("multiplicative", () => {
    this.SUBRULE(this.unary, { LABEL: "operand" });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: "operator" }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: "operator" }) },
        { ALT: () => this.CONSUME(T.At, { LABEL: "operator" }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: "operand" });
    });
  });

  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  // `^` binds tighter than unary minus and is right-associative: its exponent is a unary.
  // Indexing (`x[0]`, `x[:, 1:3]`) binds tighter still: it follows its atom.
  power = this.RULE("power", () => {
    this.SUBRULE(this.atom);
    this.MANY(() => this.SUBRULE(this.indexSuffix));
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary, { LABEL: "exponent" });
    });
  });

  /** `[i, a:b, :]`: one index or slice per leading axis. */
  indexSuffix = this.RULE("indexSuffix", () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.index) });
    this.CONSUME(T.RBracket);
  });

  /** `e` (one entry), or a slice `a:b` with either bound left out. */
  index = this.RULE("index", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Colon, { LABEL: "colon" });
          this.OPTION(() => this.SUBRULE(this.expression, { LABEL: "end" }));
        },
      },
      {
        ALT: () => {
          this.SUBRULE2(this.expression, { LABEL: "start" });
          this.OPTION2(() => {
            this.CONSUME2(T.Colon, { LABEL: "colon" });
            this.OPTION3(() => this.SUBRULE3(this.expression, { LABEL: "end" }));
          });
        },
      },
    ]);
  });

  atom = this.RULE("atom", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      {
        // A list of expressions: a shape (`reshape(x, [a, b * c])`) or an axis order.
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.MANY_SEP2({ SEP: T.Comma, DEF: () => this.SUBRULE3(this.expression, { LABEL: "item" }) });
          this.CONSUME(T.RBracket);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.CONSUME(T.LParen);
            this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression, { LABEL: "argument" }) });
            this.CONSUME(T.RParen);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen, { LABEL: "open" });
          this.SUBRULE2(this.expression, { LABEL: "inner" });
          this.CONSUME2(T.RParen, { LABEL: "close" });
        },
      },
    ]);
  });
}

/** One shared instance: Chevrotain parsers are built once and fed new input. */
export const parser = new ModelParser();
