/*
 * How a variable's text is read before the rules check it: empty as unset, numbers, booleans,
 * a PEM key written on one line, comma-separated lists. Text that does not convert passes on
 * unchanged, for the variable's rules to refuse with its name.
 */

type Raw = { value: unknown };

/** Digits (with a sign) as a number: `1e3`, `0x10` and ` 80` stay text and are refused as non-integers. */
export const toInt = ({ value }: Raw) =>
  value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;

/** The refusal of a value toBool cannot read, naming what it reads. */
export const NOT_A_BOOLEAN = '$property must be true or false (1 or 0, yes or no also read, in any case)';

export const toBool = ({ value }: Raw) => {
  if (value === undefined || value === '') return undefined;
  if (['true', '1', 'yes'].includes(String(value).toLowerCase())) return true;
  if (['false', '0', 'no'].includes(String(value).toLowerCase())) return false;
  return value;
};

export const emptyToUndefined = ({ value }: Raw) => (value === '' ? undefined : value);

/**
 * A PEM value with each `\n` escape made a real newline: an env file or a manifest often holds a
 * key on one line. Done once here, so the key's rules and HeraldConfig read the same text.
 */
export const toPem = ({ value }: Raw) => (value === '' ? undefined : typeof value === 'string' ? value.replace(/\\n/g, '\n') : value);

/** The entries of a comma-separated value, trimmed, blanks left out. */
export const listEntries = (value: string) =>
  value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
