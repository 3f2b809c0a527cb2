/**
 * The exact decimal value a JSON number literal denotes, written one way only: `-` when negative,
 * the significant digits (no leading or trailing zeros) and the power of ten they are multiplied
 * by, `1234e-2` for `12.340`, `0.1234E2` and `1234e-2` alike; `0` for any zero (`-0`, `0e-400`,
 * `0.000`). Two literals denote the same number exactly when these are equal, whatever their
 * spelling. `source` is a JSON number, or a finite number as JavaScript prints it (`1e+21`);
 * undefined for anything else (`5.`, `-.5`: text the JSON parser will refuse).
 */
export function exactDecimal(source: string): string | undefined {
  const parts = NUMBER.exec(source);
  if (!parts) return undefined;
  const [, sign, whole, fraction = '', exponent = '0'] = parts;
  const written = whole + fraction;
  const first = written.search(/[1-9]/);
  if (first < 0) return '0';
  const digits = written.slice(first).replace(/0+$/, '');
  // `written` is `whole.fraction` without its point: its last digit stands for 10^-fraction.length.
  const power = Number(exponent) - fraction.length + (written.length - first - digits.length);
  return `${sign}${digits}e${power}`;
}

/** Whether an exactDecimal denotes an integer (no digit after the point, however it was written). */
export function isExactInteger(decimal: string): boolean {
  return decimal === '0' || !decimal.includes('e-');
}

const NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
