/**
 * Whether NODE_ENV says production, read straight from the process environment: for the lines
 * written before or instead of a parsed configuration (a failed start's last line). Imports
 * nothing, so main.ts can ask before any module loads, on a Node too old to load them.
 */
export function isProductionProcess(): boolean {
  return process.env.NODE_ENV === 'production';
}
