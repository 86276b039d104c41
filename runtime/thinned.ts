/**
 * A series kept at bounded resolution: every entry until there are more than `cap`, then every
 * second one, every fourth, and so on (the stride doubles each time the series fills up), so a
 * run of any length keeps at most `cap` + 1 entries, evenly spread. The last entry pushed is
 * always kept, so a run's final values are exact.
 */
export class Thinned<T> {
  private kept: { index: number; value: T }[] = [];
  private stride = 1;
  private pushed = 0;
  private last: { index: number; value: T } | undefined;

  constructor(private readonly cap: number) {}

  /** Appends the next entry. */
  push(value: T): void {
    const entry = { index: this.pushed++, value };
    this.last = entry;
    if (entry.index % this.stride !== 0) return;
    this.kept.push(entry);
    if (this.kept.length > this.cap) {
      this.stride *= 2;
      this.kept = this.kept.filter((e) => e.index % this.stride === 0);
    }
  }

  /** True when some entries were dropped. */
  get thinned(): boolean {
    return this.stride > 1;
  }

  /** The kept entries in order, ending with the last one pushed. */
  values(): T[] {
    const values = this.kept.map((e) => e.value);
    if (this.last !== undefined && this.kept.at(-1) !== this.last) values.push(this.last.value);
    return values;
  }
}
