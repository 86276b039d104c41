/** A number as a JavaScript literal that reads back as the same double (for kernel forms and printers). */
export function literal(value: number): string {
  // Only a number may become code: a value from elsewhere (say a function found on a prototype) must not.
  if (typeof value !== "number") throw new Error(`internal: ${typeof value} used as a number literal`);
  // String(-0) is "0", which reads back as +0.
  if (Object.is(value, -0)) return "(-0)";
  const text = String(value);
  return value < 0 ? `(${text})` : text;
}
