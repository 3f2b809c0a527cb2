/**
 * The browser bundle's entry (dist/herald.js, served by Herald at /sdk/herald.js): the whole
 * SDK, and importing it defines `<herald-bell>`, so a page needs one import and no build step.
 */
import { defineHeraldBell } from './herald-bell.element.ts';

export * from './index.ts';
export { defineHeraldBell, HeraldBellElement, type BellItem } from './herald-bell.element.ts';

defineHeraldBell();
