import leven from 'leven';

/**
 * Environment variables that look like a Herald setting spelt wrong (REDIS_ULR, JWT_SECRETS):
 * Herald ignores every name it does not read, so such a typo would otherwise leave the default
 * in place without a word. Only names are compared, never values (they may be secrets).
 */
export interface MisspelledSetting {
  readonly name: string;
  readonly meant: string;
}

/** Names shorter than this are too close to ordinary variables (HOST and HOME are two edits apart). */
const TWO_EDITS_FROM_LENGTH = 8;

export function misspelledSettings(environment: Record<string, string | undefined>, settings: readonly string[]): MisspelledSetting[] {
  const known = new Set(settings);
  const found: MisspelledSetting[] = [];
  for (const name of Object.keys(environment)) {
    // Settings are upper case; npm's own variables (npm_config_*) and most tools' are not.
    if (known.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const meant = closestSetting(name, settings);
    if (meant !== undefined) found.push({ name, meant });
  }
  return found;
}

function closestSetting(name: string, settings: readonly string[]): string | undefined {
  let best: { setting: string; edits: number } | undefined;
  for (const setting of settings) {
    const allowed = Math.min(name.length, setting.length) >= TWO_EDITS_FROM_LENGTH ? 2 : 1;
    if (Math.abs(name.length - setting.length) > allowed) continue;
    const edits = leven(name, setting);
    if (edits <= allowed && (best === undefined || edits < best.edits)) best = { setting, edits };
  }
  return best?.setting;
}
