/** Formatting of quantities for messages, shared by every stage. */

/** A byte count in binary units with one decimal: 1536 → "1.5 KiB", 512 → "512 B". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? "TiB"}`;
}
